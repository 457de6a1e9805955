from tests.conftest import publish, register


def test_register_and_publish(admin):
    register(admin, "refund-policy")
    out = publish(admin, "refund-policy", [{"id": "refunds.md", "text": "Refunds within 30 days. " * 30}], version="v1")
    assert out["changed"] is True
    assert out["snapshot"]["state"] == "active"
    detail = admin.get("/v1/sources/refund-policy").json()
    assert detail["active_snapshot"]["id"] == out["snapshot"]["id"]
