"""An auditor searches the log. A filter value that cannot match anything is a mistake worth naming,
not an empty answer that reads as "nothing happened"; exports page like the JSON search does."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from sqlalchemy import text

from tests.audit.conftest import RECORDS
from tests.conftest import Api

SEARCH = "/v1/audit/retrievals"


def assert_invalid(response, field: str) -> dict:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"].endswith("/invalid-input")
    assert problem["field"] == field
    return problem


def ids(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["request_id"] for item in response.json()["items"]]


def test_a_status_that_no_answer_can_have_is_named(audited):
    newest_first = list(reversed(RECORDS))
    assert ids(audited.get(SEARCH, params={"status": "ok"})) == newest_first

    problem = assert_invalid(audited.get(SEARCH, params={"status": "bogus"}), "status")

    assert "bogus" in problem["detail"]


def test_a_task_class_nobody_asked_for_is_named(audited):
    assert ids(audited.get(SEARCH, params={"task_class": "general_question"})) == list(reversed(RECORDS))
    # In the policy, but nobody asked for it yet: an honest empty answer.
    assert ids(audited.get(SEARCH, params={"task_class": "refund_decision"})) == []

    problem = assert_invalid(audited.get(SEARCH, params={"task_class": "nosuch"}), "task_class")

    assert "nosuch" in problem["detail"] and "general_question" in problem["detail"]


def test_a_task_class_dropped_from_the_policy_can_still_be_searched(audited, admin, keys, policy_file):
    asked = admin.as_key(keys.reader).post("/v1/retrieve", json={
        "query": "where is my parcel", "task_class": "order_status", "request_id": "parcel-1"})
    assert asked.status_code == 200, asked.text
    without_order_status = re.sub(r"\[task_classes\.order_status\].*?(?=\[task_classes\.)", "",
                                  policy_file.read_text(), flags=re.DOTALL)
    policy_file.write_text(without_order_status)
    reloaded = admin.post("/v1/policy/reload")
    assert reloaded.status_code == 200, reloaded.text
    assert "order_status" not in reloaded.json()["task_classes"]

    found = audited.get(SEARCH, params={"task_class": "order_status"})

    assert ids(found) == ["parcel-1"]
    assert found.json()["items"][0]["status"] == asked.json()["status"]
    assert_invalid(audited.get(SEARCH, params={"task_class": "order_stats"}), "task_class")


@pytest.mark.parametrize("name", ["snapshot_id", "source_id", "task_class"])
def test_an_empty_filter_is_refused_rather_than_dropped(audited, name):
    """`?snapshot_id=` from a template whose variable was never filled must not list the whole log."""
    problem = assert_invalid(audited.get(f"{SEARCH}?{name}="), name)

    assert "empty" in problem["detail"]


@pytest.mark.parametrize("name", ["since", "until"])
def test_a_moment_without_a_time_zone_is_refused(audited, name):
    problem = assert_invalid(audited.get(SEARCH, params={name: "2026-11-27T10:00:00"}), name)

    assert problem["detail"] == f"{name} needs a time zone (Z or +00:00)"
    assert_invalid(audited.get(SEARCH, params={name: "yesterday"}), name)


def test_the_export_formats_take_larger_pages_than_the_json_search(audited):
    assert_invalid(audited.get(SEARCH, params={"limit": 501}), "limit")
    assert_invalid(audited.get(SEARCH, params={"limit": 10_001, "format": "csv"}), "limit")
    assert_invalid(audited.get(SEARCH, params={"format": "xml"}), "format")

    for fmt in ("jsonl", "csv"):
        assert audited.get(SEARCH, params={"limit": 10_000, "format": fmt}).status_code == 200


def test_a_jsonl_export_pages_with_the_cursor_header_and_holds_whole_records(audited):
    first = audited.get(SEARCH, params={"format": "jsonl", "limit": 3})

    assert first.status_code == 200, first.text
    assert first.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in first.text.splitlines()]
    assert [line["request_id"] for line in lines] == ["r3", "r2", "r1"]
    assert lines[0] == audited.get("/v1/audit/retrievals/r3").json()
    rest = audited.get(SEARCH, params={"format": "jsonl", "limit": 3, "cursor": first.headers["x-next-cursor"]})
    assert [json.loads(line)["request_id"] for line in rest.text.splitlines()] == ["r0"]
    assert "x-next-cursor" not in rest.headers


def test_a_csv_export_pages_with_the_cursor_header(audited):
    first = audited.get(SEARCH, params={"format": "csv", "limit": 3})

    assert first.status_code == 200, first.text
    assert first.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(first.text)))
    assert [row["request_id"] for row in rows] == ["r3", "r2", "r1"]
    assert rows[0]["status"] == "ok" and rows[0]["results"] == "1" and rows[0]["snapshot_ids"].startswith("snap_")
    rest = audited.get(SEARCH, params={"format": "csv", "limit": 3, "cursor": first.headers["x-next-cursor"]})
    assert [row["request_id"] for row in csv.DictReader(io.StringIO(rest.text))] == ["r0"]
    assert "x-next-cursor" not in rest.headers


def test_the_json_search_sends_the_cursor_in_the_body_and_the_header(audited):
    page = audited.get(SEARCH, params={"limit": 2})

    assert page.json()["next_cursor"] == page.headers["x-next-cursor"]


@pytest.mark.parametrize("query", ["status=bogus", "snapshot_id=", "colour=red", "limit=0"])
def test_the_key_and_its_role_are_judged_before_the_query(audited, admin, keys, query):
    assert admin.as_key(None).get(f"{SEARCH}?{query}").status_code == 401
    assert admin.as_key(keys.reader).get(f"{SEARCH}?{query}").status_code == 403


def test_a_record_gutted_outside_the_service_is_reported_not_crashed_on(audited: Api, tamper):
    tamper(lambda conn: conn.execute(text("UPDATE retrievals SET content = :c WHERE request_id = 'r1'"),
                                     {"c": json.dumps({"request_id": "r1", "status": "ok"})}))

    looked_up = audited.get("/v1/audit/retrievals/r1")

    assert looked_up.status_code == 409, looked_up.text
    assert looked_up.headers["content-type"].startswith("application/problem+json")
    assert "/v1/audit/verify" in looked_up.json()["detail"]
    assert "r1" in ids(audited.get(SEARCH))
    exported = [json.loads(line) for line in audited.get(SEARCH, params={"format": "jsonl"}).text.splitlines()]
    assert {"request_id": "r1", "status": "ok"}.items() <= next(r for r in exported if r["request_id"] == "r1").items()
    assert audited.get("/v1/audit/verify").json()["first_bad"]["request_id"] == "r1"


def test_a_checkpoint_seq_past_what_the_log_can_hold_is_refused(client, keys):
    too_big = 2**63
    response = client.get("/v1/audit/verify", params={"seq": too_big, "record_hash": "sha256:x", "signed_at": "x",
                                                      "key_id": "x", "signature": "x"},
                          headers={"Authorization": f"Bearer {keys.auditor}"})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "seq"
