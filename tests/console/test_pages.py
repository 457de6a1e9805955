"""What the console's pages show: an auditor's request page and search, the freshness board, a source's
timeline and diff, a snapshot's documents and blast radius."""

from __future__ import annotations

import html
import json
import re
from dataclasses import replace

from litestar.testing import TestClient
from sqlalchemy import text

from freshness.app import create_app
from freshness.console import requests as request_pages
from freshness.db import make_engine
from tests.conftest import Api, publish, register
from tests.console.conftest import sign_in


def _text(answer) -> str:
    """The page's words, without markup: what a person reads."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", answer.text)).split())


def test_a_request_page_shows_everything_an_auditor_traces(client, keys, admin, refunds, clock):
    clock.advance(days=8)  # v2 is past the policy class's 7 days: refund_decision rejects it
    stale = admin.post("/v1/retrieve", json={"query": "refund days", "task_class": "refund_decision",
                                            "request_id": "req-stale"})
    assert stale.json()["status"] == "insufficient_context"
    sign_in(client, keys.auditor)
    page = client.get("/console/requests/req-late")
    assert page.status_code == 200
    words = _text(page)
    record = admin.get("/v1/audit/retrievals/req-late").json()
    for fact in ["refund days", "refund_decision", "critical", "ok", "ops", record["principal"]["key_id"],
                 "Refunds within 14 days.", "v2", "verifies"]:
        assert fact in words, fact
    assert record["policy_version"][:19] in words
    assert 'meter min="0" max="604800"' in page.text  # its age against the policy class's 7 days
    rejected = _text(client.get("/console/requests/req-stale"))
    assert "insufficient context" in rejected
    assert "Rejected chunks (2)" in rejected
    assert "stale" in rejected
    assert "8d of 7d" in rejected


def test_a_changed_record_shows_its_link_broken(client, keys, refunds, settings):
    engine = make_engine(settings.resolved_database_url)
    with engine.begin() as conn:
        content = conn.execute(text("SELECT content FROM retrievals WHERE request_id = 'req-early'")).scalar_one()
        content = json.loads(content) if isinstance(content, str) else content
        content["query"] = "something else"
        conn.execute(text("UPDATE retrievals SET content = :c WHERE request_id = 'req-early'"),
                     {"c": json.dumps(content)})
    engine.dispose()
    sign_in(client, keys.auditor)
    changed = _text(client.get("/console/requests/req-early"))
    assert "broken" in changed and "does not match its record_hash" in changed
    # The next record's own link still holds: it names the changed record's hash as it was written.
    after = _text(client.get("/console/requests/req-late"))
    assert "verifies" in after and "broken" not in after


def test_only_the_query_hash_where_settings_say_so(settings, clock, keys):
    with TestClient(app=create_app(replace(settings, hash_query_text=True), clock=clock)) as hashed:
        admin = Api(hashed, keys.admin)
        register(admin, "refunds")
        publish(admin, "refunds", [{"id": "policy", "text": "Refunds within 14 days."}])
        assert admin.post("/v1/retrieve", json={"query": "refund days", "task_class": "general_question",
                                                "request_id": "req-hashed"}).status_code == 200
        sign_in(hashed, keys.auditor)
        page = _text(hashed.get("/console/requests/req-hashed"))
    assert "refund days" not in page
    assert "only its hash is kept: sha256:" in page


def test_the_search_filters_and_pages_newest_first(client, keys, refunds, monkeypatch):
    monkeypatch.setattr(request_pages, "PAGE", 1)
    sign_in(client, keys.auditor)
    first = client.get("/console/requests")
    assert "req-late" in first.text and "req-early" not in first.text
    older = re.search(r'href="(/console/requests\?[^"]*cursor=[^"]+)"', first.text)
    assert older, "the first page links to the next one"
    second = client.get(html.unescape(older.group(1)))
    assert "req-early" in second.text and "req-late" not in second.text
    by_snapshot = client.get(f"/console/requests?snapshot_id={refunds['v1']}")
    assert "req-early" in by_snapshot.text
    by_class = client.get("/console/requests?task_class=general_question&status=ok")
    assert "req-early" in by_class.text
    assert "req-late" not in client.get("/console/requests?since=2099-01-01T00:00:00Z").text


def test_a_bad_search_says_what_to_fix(client, keys, refunds):
    sign_in(client, keys.auditor)
    for query, words in [("status=great", "status 'great' is not one of ok, flagged, insufficient_context"),
                         ("task_class=nope", "no task class 'nope' in the policy or the audit log"),
                         ("since=yesterday", "since must be an RFC 3339 timestamp"),
                         ("cursor=forged", "the cursor is not one this service issued")]:
        answer = client.get(f"/console/requests?{query}")
        assert answer.status_code == 422, query
        assert words in html.unescape(answer.text), query


def test_the_board_puts_stale_and_failing_first_and_filters(client, keys, admin, clock):
    register(admin, "prices", source_class="catalog", owner="catalog-team")
    publish(admin, "prices", [{"id": "p", "text": "A kettle costs 30 euros."}])
    register(admin, "returns", source_class="policy")
    publish(admin, "returns", [{"id": "r", "text": "Returns within 30 days."}])
    register(admin, "shipping", source_class="faq")
    clock.advance(hours=25)  # prices (catalog, 24h) are stale; returns (policy, 7d) fresh
    sign_in(client, keys.reader)
    board = client.get("/console/freshness")
    order = [m for m in re.findall(r'href="/console/sources/([a-z-]+)"', board.text)]
    assert order == ["prices", "shipping", "returns"]
    words = _text(board)
    assert "stale" in words and "never published" in words and "fresh" in words
    assert "catalog-team" in words
    only_stale = client.get("/console/freshness?status=stale")
    assert re.findall(r'href="/console/sources/([a-z-]+)"', only_stale.text) == ["prices"]
    by_owner = client.get("/console/freshness?owner=support")
    assert re.findall(r'href="/console/sources/([a-z-]+)"', by_owner.text) == ["shipping", "returns"]
    by_class = client.get("/console/freshness?source_class=policy")
    assert re.findall(r'href="/console/sources/([a-z-]+)"', by_class.text) == ["returns"]
    assert client.get("/console/freshness?source_class=nope").status_code == 422
    assert client.get("/console/freshness?status=rotten").status_code == 422


def test_a_source_page_shows_its_timeline_and_a_document_diff(client, keys, refunds):
    sign_in(client, keys.support)
    page = client.get("/console/sources/refunds")
    words = _text(page)
    assert "v1" in words and "v2" in words and "superseded" in words and "active" in words
    diff = client.get(f"/console/sources/refunds?base={refunds['v1']}&head={refunds['v2']}")
    words = _text(diff)
    assert "1 added, 1 changed, 1 removed." in words
    assert "added new-terms" in words
    assert "removed old-faq" in words
    assert "changed policy" in words
    text_diff = client.get(f"/console/sources/refunds?base={refunds['v1']}&head={refunds['v2']}&document=policy")
    assert '<span class="l-removed">- Refunds within 30 days.</span>' in text_diff.text
    assert '<span class="l-added">+ Refunds within 14 days.</span>' in text_diff.text
    assert '<span class="l-context">  Keep the receipt.</span>' in text_diff.text


def test_a_diff_refuses_a_snapshot_of_another_source(client, keys, admin, refunds):
    register(admin, "other")
    other = publish(admin, "other", [{"id": "x", "text": "Other text."}])["snapshot"]["id"]
    sign_in(client, keys.support)
    answer = client.get(f"/console/sources/refunds?base={other}&head={refunds['v2']}")
    assert answer.status_code == 422
    assert "belongs to source 'other', not 'refunds'" in html.unescape(answer.text)


def test_a_snapshot_page_shows_documents_and_blast_radius(client, keys, refunds):
    sign_in(client, keys.auditor)
    page = client.get(f"/console/snapshots/{refunds['v1']}")
    words = _text(page)
    assert "policy" in words and "old-faq" in words and "Refund policy" in words
    assert "1 request was served chunks of this snapshot; 0 had chunks of it rejected" in words
    assert "The newest: req-early" in words
    assert f"/v1/audit/retrievals?snapshot_id={refunds['v1']}&amp;format=jsonl" in page.text
    export = client.get(f"/console/snapshots/{refunds['v1']}/export")
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in export.text.splitlines()]
    assert [line["request_id"] for line in lines] == ["req-early"]


def test_unknown_ids_are_a_404_page(client, keys):
    sign_in(client, keys.admin)
    for path in ["/console/requests/nope", "/console/sources/nope", "/console/snapshots/nope"]:
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert answer.headers["content-type"].startswith("text/html")
