from tests.conftest import Api, publish, register
from tests.sources.test_publish import start_other_publish

def test_probe(client, support, settings, clock):
    register(support, "refund-policy")
    other = start_other_publish(settings, "refund-policy", clock.now())
    r = support.post("/v1/sources/refund-policy/snapshots", json={"documents": [{"id": "a", "chunks": ["x"], "vectors": [[1.0, 2.0, 3.0, 4.0]]}]})
    print(r.status_code, r.text)
    register(support, "faq", source_class="faq")
    r = support.post("/v1/sources/faq/snapshots", json={"documents": [{"id": "a", "chunks": ["x"], "vectors": [[1.0, 2.0, 3.0]]}]})
    print(r.status_code, r.text)
