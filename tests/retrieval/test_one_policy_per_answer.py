"""An operator reloads the policy while a RAG app's retrieval is being answered: the answer is judged
under one policy version from start to end, and its audit record names that version and the max ages
of that version; the next retrieval is judged under the new one."""

from __future__ import annotations

from freshness.retrieval import service
from tests.conftest import publish, register

DAY = 86_400
REFUNDS = "Refunds are accepted within 30 days of delivery."


def test_a_reload_in_the_middle_of_an_answer_does_not_mix_two_policy_versions(admin, keys, clock, policy_file,
                                                                             monkeypatch):
    register(admin, "refund-policy", "policy")
    publish(admin, "refund-policy", [{"id": "refunds.md", "text": REFUNDS}])
    clock.advance(days=2)  # fresh under max_age 7d, stale under the 1d about to be loaded
    before = admin.get("/v1/policy").json()["version"]
    stricter = policy_file.read_text().replace('max_age = "7d"\nwarn_age = "5d"', 'max_age = "1d"\nwarn_age = "12h"')
    assert stricter != policy_file.read_text()
    answer = service.answer
    reloads = []

    def reload_then_answer(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        if not reloads:
            policy_file.write_text(stricter)
            reloaded = admin.post("/v1/policy/reload")
            assert reloaded.status_code == 200, reloaded.text
            reloads.append(reloaded.json()["version"])
        return answer(*args, **kwargs)

    monkeypatch.setattr(service, "answer", reload_then_answer)
    reader = admin.as_key(keys.reader)
    ask = {"query": "refund days", "task_class": "refund_decision"}

    during = reader.post("/v1/retrieve", json={**ask, "request_id": "during-reload"})
    after = reader.post("/v1/retrieve", json={**ask, "request_id": "after-reload"})

    assert during.status_code == 200, during.text
    assert reloads and reloads[0] != before
    served = during.json()
    assert served["policy_version"] == before
    assert [(r["source_id"], r["freshness"]) for r in served["results"]] == [("refund-policy", "fresh")]
    assert served["rejected"] == [] and served["status"] == "ok"
    auditor = admin.as_key(keys.auditor)
    record = auditor.get("/v1/audit/retrievals/during-reload").json()
    assert record["policy_version"] == before
    assert [r["max_age_seconds"] for r in record["results"]] == [7 * DAY]

    later = after.json()
    assert later["policy_version"] == reloads[0]
    assert later["results"] == [] and later["status"] == "insufficient_context"
    assert [(r["reason"], r["max_age_seconds"]) for r in later["rejected"]] == [("stale", DAY)]
    assert auditor.get("/v1/audit/verify").json()["ok"] is True
