"""An auditor checks a record with nothing but the database and sha256: the content column holds the very
text its hash covers (canonical JSON: keys sorted, no spaces, text as UTF-8), so the hash holds over the
stored text itself, and reading the column gives back the record the response was made from."""

from __future__ import annotations

import hashlib
import json

from sqlalchemy import text

from freshness.db import make_engine
from freshness.hashing import canonical_json
from tests.conftest import publish, register

QUERY = "Rückerstattung innerhalb von 30 Tagen — refund?"


def test_the_stored_content_is_the_text_its_hash_covers(admin, keys, settings):
    register(admin, "refund-policy", "policy")
    publish(admin, "refund-policy", [{"id": "refunds.md", "text": "Rückerstattung: refund within 30 days, “no” fees."}])
    answer = admin.as_key(keys.reader).post("/v1/retrieve", json={
        "query": QUERY, "task_class": "general_question", "request_id": "stored-1"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["results"], "the record should hold a served chunk"

    engine = make_engine(settings.resolved_database_url)
    try:
        as_text = "CAST(content AS TEXT)" if engine.dialect.name == "postgresql" else "content"
        with engine.connect() as conn:
            stored, prev, digest = conn.execute(text(
                f"SELECT {as_text}, prev_hash, record_hash FROM retrievals WHERE request_id = 'stored-1'")).one()
    finally:
        engine.dispose()

    assert digest == "sha256:" + hashlib.sha256(f"{prev}\n{stored}".encode()).hexdigest()
    content = json.loads(stored)
    assert stored == canonical_json(content)
    assert content["query"] == QUERY
    assert content["results"][0]["text"] == answer.json()["results"][0]["text"]
    assert admin.get("/v1/audit/verify").json()["ok"] is True
