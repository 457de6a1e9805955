"""A publisher names a file:// uri: the service reads only inside the folders the operator opened.

The operator here opens `<tmp>/kb` (FRESHNESS_FILE_ROOTS); `<tmp>/outside` holds a secret that no
publisher may get the service to read, by any spelling of its path, a symlink, or a swap after
registration. Errors shown to any key name no path outside the root.
"""

from __future__ import annotations

import os
from dataclasses import replace

import pytest

from freshness.errors import InvalidInput
from freshness.refresh.reach import SourceReach
from freshness.settings import load_settings
from tests.conftest import register

SECRET = "FRESHNESS_ADMIN_KEY=fk_this_must_never_be_served"


@pytest.fixture
def settings(settings, tmp_path):
    (tmp_path / "kb").mkdir()
    return replace(settings, file_roots=(tmp_path / "kb",), fetch_allow=())


@pytest.fixture
def outside(tmp_path):
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.md").write_text(f"# Secret\n{SECRET}")
    (folder / "secret.env").write_text(SECRET)
    return folder


def _refused(api, body: dict, status: int = 422) -> dict:
    response = api.post("/v1/sources", json=body)
    assert response.status_code == status, response.text
    problem = response.json()
    assert problem["field"] == "uri"
    return problem


def _source(source_id: str, uri: str) -> dict:
    return {"id": source_id, "title": "Probe", "owner": "support", "source_class": "faq", "uri": uri}


def _served_texts(admin, keys) -> str:
    response = admin.as_key(keys.reader).post(
        "/v1/retrieve", json={"query": "FRESHNESS_ADMIN_KEY secret", "task_class": "general_question", "top_k": 50})
    assert response.status_code == 200, response.text
    return " ".join(r["text"] for r in response.json()["results"])


@pytest.mark.parametrize("uri", [
    "file:///proc/self/environ",
    "file:///etc/shadow",
    "file://config/freshness.toml",
    "file://{tmp}/outside/secret.md",
    "file://{tmp}/kb/../outside/secret.md",
    "file://{tmp}/kb/%2E%2E/outside",
    "file://{tmp}/data/admin.key",
])
def test_a_uri_outside_the_roots_is_refused_at_registration_naming_the_setting(support, tmp_path, outside, uri):
    uri = uri.format(tmp=tmp_path)
    problem = _refused(support, _source("probe", uri))
    assert "FRESHNESS_FILE_ROOTS" in problem["detail"]
    assert support.get("/v1/sources/probe").status_code == 404


def test_the_data_dir_is_never_read_even_inside_a_root(admin, settings, tmp_path):
    opened = replace(settings, file_roots=(tmp_path,))
    reach = SourceReach.of(opened)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    (settings.data_dir / "notes.md").write_text("# Notes\ninternal")
    with pytest.raises(InvalidInput, match="FRESHNESS_FILE_ROOTS"):
        reach.check((settings.data_dir / "notes.md").as_uri())
    reach.check((tmp_path / "kb").as_uri())  # the rest of the root stays open


def test_without_roots_file_uris_are_refused(support, settings, tmp_path):
    closed = replace(settings, file_roots=())
    with pytest.raises(InvalidInput, match="not enabled"):
        SourceReach.of(closed).check((tmp_path / "kb").as_uri())


def test_a_symlink_leading_out_is_refused_and_a_patch_cannot_move_a_source_out(support, tmp_path, outside):
    kb = tmp_path / "kb"
    (kb / "link.md").symlink_to(outside / "secret.md")
    _refused(support, _source("probe", (kb / "link.md").as_uri()))

    (kb / "faq").mkdir()
    (kb / "faq" / "shipping.md").write_text("# Shipping\nTwo working days.")
    register(support, "faq", "faq", uri=(kb / "faq").as_uri())
    moved = support.patch("/v1/sources/faq", json={"uri": outside.as_uri()})
    assert moved.status_code == 422 and "FRESHNESS_FILE_ROOTS" in moved.json()["detail"]
    assert support.get("/v1/sources/faq").json()["uri"] == (kb / "faq").as_uri()


def test_a_single_file_is_read_only_with_a_document_suffix(admin, run, tmp_path):
    kb = tmp_path / "kb"
    (kb / "settings.env").write_text(SECRET)
    register(admin, "probe", "faq", uri=(kb / "settings.env").as_uri())
    assert run("refresh").counts["failed"] == 1
    report = [i for i in admin.get("/v1/freshness").json()["items"] if i["source_id"] == "probe"][0]
    assert report["active_snapshot_id"] is None
    assert ".md" in report["last_refresh"]["error"]


def test_symlinks_inside_a_folder_that_lead_out_are_skipped(admin, run, keys, tmp_path, outside):
    kb = tmp_path / "kb"
    (kb / "faq").mkdir()
    (kb / "faq" / "shipping.md").write_text("# Shipping\nParcels leave within two working days.")
    (kb / "faq" / "leak.md").symlink_to(outside / "secret.md")
    (kb / "faq" / "leaked-folder").symlink_to(outside, target_is_directory=True)
    (kb / "shared").mkdir()
    (kb / "shared" / "returns.md").write_text("# Returns\nThirty days.")
    (kb / "faq" / "shared").symlink_to(kb / "shared", target_is_directory=True)  # leads inside: followed
    register(admin, "faq", "faq", uri=(kb / "faq").as_uri())

    assert run("refresh").counts["published"] == 1
    snapshot_id = admin.get("/v1/sources/faq").json()["active_snapshot_id"]
    documents = {d["id"] for d in admin.get(f"/v1/snapshots/{snapshot_id}").json()["documents"]}
    assert documents == {"shipping.md", "shared/returns.md"}
    assert SECRET not in _served_texts(admin, keys)


def test_a_folder_swapped_for_a_symlink_after_registration_is_refused_at_read(admin, run, keys, tmp_path, outside):
    kb = tmp_path / "kb"
    (kb / "faq").mkdir()
    (kb / "faq" / "shipping.md").write_text("# Shipping\nTwo working days.")
    register(admin, "faq", "faq", uri=(kb / "faq").as_uri())
    (kb / "faq" / "shipping.md").unlink()
    os.rmdir(kb / "faq")
    (kb / "faq").symlink_to(outside, target_is_directory=True)

    assert run("refresh").counts["failed"] == 1
    assert admin.get("/v1/sources/faq").json()["active_snapshot_id"] is None
    assert SECRET not in _served_texts(admin, keys)
    # Any key may read the report: its error names the setting, not where the symlink leads.
    report = admin.as_key(keys.reader).get("/v1/freshness").json()["items"]
    error = [i for i in report if i["source_id"] == "faq"][0]["last_refresh"]["error"]
    assert "FRESHNESS_FILE_ROOTS" in error and str(outside) not in error


def test_a_missing_path_inside_the_roots_says_so_without_naming_anything_outside(admin, run, keys, tmp_path):
    register(admin, "later", "faq", uri=(tmp_path / "kb" / "not-yet").as_uri())
    assert run("refresh").counts["failed"] == 1
    error = [i for i in admin.as_key(keys.reader).get("/v1/freshness").json()["items"]
             if i["source_id"] == "later"][0]["last_refresh"]["error"]
    assert "neither a file nor a folder" in error


def test_roots_come_from_the_environment_as_a_comma_separated_list(tmp_path):
    settings = load_settings(environ={"FRESHNESS_FILE_ROOTS": f"{tmp_path}/a, {tmp_path}/b"},
                             config_file=tmp_path / "none.toml")
    assert settings.file_roots == (tmp_path / "a", tmp_path / "b")
    assert load_settings(environ={}, config_file=tmp_path / "none.toml").file_roots == ()
