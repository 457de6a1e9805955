"""The key that signs checkpoints: generated once into the data dir for the owner alone, or given by
the operator in FRESHNESS_AUDIT_SIGNING_KEY; never in the database, and its private half never leaves
the process."""

from __future__ import annotations

import logging
import stat

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from litestar.testing import TestClient
from sqlalchemy import create_engine, text

from freshness.app import create_app
from freshness.audit.signing import KEY_FILE, key_id_of
from freshness.errors import ConfigError
from freshness.runtime import open_runtime
from freshness.settings import load_settings, with_overrides
from tests.conftest import Api


def _pem(key: Ed25519PrivateKey | None = None) -> str:
    key = key or Ed25519PrivateKey.generate()
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()


def _public(settings, clock, keys) -> dict:
    with TestClient(app=create_app(settings, clock=clock)) as client:
        return Api(client, keys.auditor).get("/v1/audit/public-key").json()


def test_the_generated_key_is_the_owners_alone_and_kept_across_restarts(settings, clock, keys):
    first = _public(settings, clock, keys)
    path = settings.data_dir / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    pem = path.read_bytes()

    second = _public(settings, clock, keys)

    assert second == first
    assert path.read_bytes() == pem
    assert [p.name for p in settings.data_dir.iterdir() if "signing" in p.name] == [KEY_FILE]


def test_a_key_file_others_could_read_is_closed(settings, clock, keys):
    first = _public(settings, clock, keys)
    (settings.data_dir / KEY_FILE).chmod(0o644)

    assert _public(settings, clock, keys) == first
    assert stat.S_IMODE((settings.data_dir / KEY_FILE).stat().st_mode) == 0o600


def test_the_operators_key_is_used_when_set(settings, clock, keys):
    key = Ed25519PrivateKey.generate()
    pem = _pem(key)
    expected = _public(with_overrides(settings, audit_signing_key=pem, data_dir=settings.data_dir / "a"), clock, keys)
    # A replica given the same key as one line of an env file.
    from_env = load_settings(environ={"FRESHNESS_AUDIT_SIGNING_KEY": pem.replace("\n", "\\n")})
    replica = with_overrides(settings, audit_signing_key=from_env.audit_signing_key, data_dir=settings.data_dir / "b")

    assert expected["key_id"] == key_id_of(key.public_key())
    assert _public(replica, clock, keys) == expected
    assert not (settings.data_dir / "a" / KEY_FILE).exists() and not (settings.data_dir / "b" / KEY_FILE).exists()


@pytest.mark.parametrize("value", ["not a key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"])
def test_a_bad_key_stops_the_start_without_showing_it(settings, clock, value):
    with pytest.raises(ConfigError) as refused:
        open_runtime(with_overrides(settings, audit_signing_key=value), clock=clock)
    assert "FRESHNESS_AUDIT_SIGNING_KEY" in refused.value.detail
    assert value.strip() not in refused.value.detail and "AAAA" not in refused.value.detail


def test_the_private_key_reaches_no_response_log_or_table(settings, clock, keys, caplog):
    pem = _pem()
    secret = pem.split("-----")[2].replace("\n", "")  # the base64 body, on any line breaking
    settings = with_overrides(settings, audit_signing_key=pem)
    caplog.set_level(logging.DEBUG)
    answers = []
    with TestClient(app=create_app(settings, clock=clock)) as client:
        auditor, reader = Api(client, keys.auditor), Api(client, keys.reader)
        reader.post("/v1/retrieve", json={"query": "refund", "task_class": "general_question", "request_id": "q1"})
        checkpoint = auditor.get("/v1/audit/checkpoint").json()
        assert checkpoint["seq"] == 1 and checkpoint["signature"]
        for path, params in [("/v1/audit/public-key", None), ("/v1/audit/checkpoint", None),
                             ("/v1/audit/verify", None), ("/v1/audit/verify", checkpoint),
                             ("/v1/audit/verify", {**checkpoint, "signature": "x"}),
                             ("/v1/audit/verify", {"seq": "1"}), ("/v1/audit/retrievals", None),
                             ("/v1/audit/retrievals/q1", None), ("/schema/openapi.json", None)]:
            answers.append(auditor.get(path, params=params))
        answers.append(Api(client, None).get("/v1/audit/public-key"))
    engine = create_engine(settings.resolved_database_url)
    with engine.connect() as conn:
        stored = [str(conn.execute(text(f"SELECT * FROM {table}")).all())
                  for table in ("retrievals", "retrieval_chunks", "audit_chain_head", "service_state")]
    engine.dispose()

    assert [a.status_code for a in answers] == [200] * 5 + [422] + [200] * 3 + [401]
    for seen in [a.text for a in answers] + [caplog.text] + stored:
        assert "PRIVATE KEY" not in seen
        assert secret not in seen.replace("\n", "").replace("\\n", "")
