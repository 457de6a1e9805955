"""The freshness report (HTTP and `freshness status`) and the Prometheus metrics."""

from __future__ import annotations

import json

from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from freshness.cli import main
from tests.conftest import Api, publish, register


def _setup(admin: Api) -> None:
    register(admin, "refund-policy", "policy")
    publish(admin, "refund-policy", [{"id": "refunds.md", "text": "Refunds within 30 days of delivery."}], version="v1")
    register(admin, "price-list", "catalog", owner="catalog-team")
    publish(admin, "price-list", [{"id": "prices.md", "text": "The travel kettle costs 39 euros."}])
    register(admin, "shipping-faq", "faq")
    register(admin, "old-faq", "faq")
    publish(admin, "old-faq", [{"id": "faq.md", "text": "Parcels leave within two days."}])
    assert admin.delete("/v1/sources/old-faq").status_code in (200, 204)


def _items(admin: Api, **params) -> dict:
    response = admin.get("/v1/freshness", params=params)
    assert response.status_code == 200, response.text
    return {item["source_id"]: item for item in response.json()["items"]}


def test_report_lists_every_live_source_with_its_status_ages_and_blocked_task_classes(admin, keys, clock):
    _setup(admin)
    reader = admin.as_key(keys.reader)
    body = reader.get("/v1/freshness").json()
    items = {i["source_id"]: i for i in body["items"]}
    assert set(items) == {"refund-policy", "price-list", "shipping-faq"}  # retired sources are not reported
    assert body["policy_version"].startswith("sha256:")
    assert body["counts"]["fresh"] == 2 and body["counts"]["never_published"] == 1
    assert body["critical_blocked"] == [] and body["points_not_indexed"] == 0
    price = items["price-list"]
    assert price["status"] == "fresh" and price["source_class"] == "catalog" and price["id"] == "price-list"
    assert price["max_age_seconds"] == 86_400 and price["warn_age_seconds"] == 43_200
    assert price["strictest_max_age_seconds"] == 6 * 3600  # refund_decision's override
    assert price["critical_task_classes"] == ["refund_decision"]
    assert price["active_snapshot_id"].startswith("snap_") and price["age_seconds"] == 0
    assert items["shipping-faq"]["status"] == "never_published" and items["shipping-faq"]["age_seconds"] is None

    # 7 hours: the price list is still fresh by its own class, but too old for refund decisions.
    clock.advance(hours=7)
    body = admin.get("/v1/freshness").json()
    price = {i["source_id"]: i for i in body["items"]}["price-list"]
    assert price["status"] == "fresh" and price["stale_for"] == ["refund_decision"]
    assert price["age_seconds"] == 7 * 3600
    assert body["critical_blocked"] == ["price-list"]

    # 13 hours: past warn_age; 25 hours: stale for everyone that may use it.
    clock.advance(hours=6)
    assert _items(admin)["price-list"]["status"] == "warn"
    clock.advance(hours=12)
    price = _items(admin)["price-list"]
    assert price["status"] == "stale"
    assert price["stale_for"] == ["general_question", "order_status", "refund_decision"]

    # Filters and pagination.
    assert set(_items(admin, status="stale")) == {"price-list"}
    assert set(_items(admin, source_class="faq")) == {"shipping-faq"}
    first = admin.get("/v1/freshness", params={"limit": 2}).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = admin.get("/v1/freshness", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [i["source_id"] for i in rest["items"]] == ["shipping-faq"] and rest["next_cursor"] is None


def test_report_bad_input(admin, client):
    assert client.get("/v1/freshness").status_code == 401
    bad = admin.get("/v1/freshness", params={"status": "rotten"})
    assert bad.status_code == 422 and "never_published" in bad.json()["detail"]
    assert admin.get("/v1/freshness", params={"limit": "0"}).status_code == 422
    assert admin.get("/v1/freshness", params={"cursor": "forged.cursor"}).status_code == 422


def test_status_command_gates_on_critical_sources(admin, cli_env, clock):
    _setup(admin)
    runner = CliRunner()
    ok = runner.invoke(main, ["status"], catch_exceptions=False)
    assert ok.exit_code == 0, ok.output
    assert "price-list" in ok.output and "never_published" in ok.output
    report = json.loads(runner.invoke(main, ["status", "--json"]).output)
    assert report["critical_blocked"] == [] and {i["source_id"] for i in report["items"]} == {
        "refund-policy", "price-list", "shipping-faq"}

    # The catalog is 7 hours old: fine for its class, too old for a critical task class.
    # `freshness status` reads the system clock, so the content is made old in the database instead.
    from datetime import timedelta

    from sqlalchemy import select

    from freshness.db import make_engine, make_session_factory, session_scope
    from freshness.models import Snapshot

    engine = make_engine(cli_env.resolved_database_url)
    with session_scope(make_session_factory(engine)) as session:
        active = session.scalar(select(Snapshot).where(Snapshot.source_id == "price-list", Snapshot.state == "active"))
        active.verified_at -= timedelta(hours=7)
        active.captured_at -= timedelta(hours=7)
    engine.dispose()
    blocked = runner.invoke(main, ["status"])
    assert blocked.exit_code == 1
    assert "price-list" in blocked.output
    machine = runner.invoke(main, ["status", "--json"])
    assert machine.exit_code == 1 and json.loads(machine.output)["critical_blocked"] == ["price-list"]
    # Scoped to a class that no critical task class is blocked by, the gate passes.
    assert runner.invoke(main, ["status", "--class", "faq"]).exit_code == 0


def _metrics(client) -> dict[str, list]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {family.name: family.samples for family in text_string_to_metric_families(response.text)}


def _value(samples, name: str, **labels) -> float:
    return sum(s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def test_metrics_count_retrievals_rejections_publishes_jobs_and_source_ages(admin, client, keys, clock, run):
    _setup(admin)
    reader = admin.as_key(keys.reader)
    assert reader.post("/v1/retrieve", json={"query": "refund", "task_class": "refund_decision"}).status_code == 200
    clock.advance(days=8)
    stale = reader.post("/v1/retrieve", json={"query": "refund", "task_class": "refund_decision"}).json()
    assert stale["status"] == "insufficient_context"
    run("sweep")

    families = _metrics(client)
    retrievals = families["freshness_retrievals"]
    assert _value(retrievals, "freshness_retrievals_total", task_class="refund_decision", status="ok") == 1
    assert _value(retrievals, "freshness_retrievals_total", task_class="refund_decision",
                  status="insufficient_context") == 1
    rejected = families["freshness_rejected_chunks"]
    assert _value(rejected, "freshness_rejected_chunks_total", task_class="refund_decision", source_class="policy",
                  reason="stale") == 1
    latency = families["freshness_retrieval_latency_seconds"]
    assert _value(latency, "freshness_retrieval_latency_seconds_count") == 2
    publishes = families["freshness_publish_duration_seconds"]
    assert _value(publishes, "freshness_publish_duration_seconds_count", outcome="changed") == 3
    jobs = families["freshness_job_runs"]
    assert _value(jobs, "freshness_job_runs_total", job="sweep", outcome="ok") == 1
    ages = families["freshness_source_age_seconds"]
    assert _value(ages, "freshness_source_age_seconds", source_id="refund-policy") == 8 * 86_400
    assert not [s for s in ages if s.labels["source_id"] == "old-faq"]
    statuses = families["freshness_sources"]
    assert _value(statuses, "freshness_sources", status="stale") == 2
    assert _value(statuses, "freshness_sources", status="never_published") == 1
    assert _value(statuses, "freshness_sources", status="fresh") == 0


def test_the_openapi_description_lists_the_report_and_metrics(client):
    paths = client.get("/schema/openapi.json").json()["paths"]
    assert "/v1/freshness" in paths and "/metrics" in paths
