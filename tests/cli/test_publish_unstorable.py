"""An operator publishes a file that holds a NUL byte: one clear line naming the document, no traceback."""

from __future__ import annotations

from freshness.db import make_engine


def test_publishing_a_file_with_a_nul_byte_names_the_document_and_stores_nothing(cli, tmp_path, settings):
    folder = tmp_path / "kb"
    folder.mkdir()
    (folder / "refunds.md").write_text("# Refunds\n\nRefunds within 30 days.\n")
    (folder / "returns.md").write_bytes(b"# Returns\n\nReturns within\x00 14 days.\n")
    assert cli("sources", "add", "refund-policy", "--title", "Refund policy", "--owner", "support",
               "--class", "policy").exit_code == 0

    result = cli("publish", "refund-policy", str(folder))

    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert "documents[1].text" in lines[0] and "NUL" in lines[0]
    assert "Traceback" not in result.output
    engine = make_engine(settings.resolved_database_url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM snapshots").scalar_one() == 0
    engine.dispose()
