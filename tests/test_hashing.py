"""Hashes stored yesterday are checked today: documents, snapshots, audit records, policy versions and keys
keep the exact hashes they have always had, non-ASCII text included."""

from __future__ import annotations

from freshness.audit.chain import GENESIS, record_hash
from freshness.auth.keys import hash_key
from freshness.policy.parse import parse_policy
from freshness.sources.hashing import document_hash, snapshot_hash


def test_a_document_hash_covers_its_fields_in_canonical_json():
    metadata = {"b": [1, {"z": "ü"}], "a": None}
    assert document_hash("refunds.md", "Rückgabe", "https://x/é", metadata, "Rückgabe binnen 30 Tagen.", None) == (
        "sha256:ea63f1f1fa834366dd87a8f9849339cff1b256806fc9478cda7c2c73d49ffc24")
    assert document_hash("a", None, None, {}, None, ["one", "twö"]) == (
        "sha256:3a44481a3f948324221bb3a932186ba2a3fe367d65b141476b5eaf598508c259")


def test_a_snapshot_hash_covers_its_documents_in_id_order():
    assert snapshot_hash([("b", "sha256:bb"), ("a", "sha256:aa")]) == (
        "sha256:bf5a373751df09537bc2414c1155c388f48d28eb9e9a46a086e719234c999b43")


def test_an_audit_record_hash_chains_on_the_previous_one():
    content = {"query": "Wie lange gilt die Rückgabe?", "seq": 1, "results": [{"rank": 1}]}
    assert record_hash(GENESIS, content) == "sha256:7c5e74c299967c63bb02b5b1ed831c890fbe50d3400aa8369b032b0719dd2bb7"


POLICY = """
[source_classes.policy]
max_age = "7d"
warn_age = "5d"
description = "Rückgabe- und Garantiebedingungen"

[task_classes.refund_decision]
criticality = "critical"
max_age = { policy = "36h" }
"""


def test_a_policy_keeps_its_version():
    assert parse_policy(POLICY).version == "sha256:98d4cf066268e7e68b90b787ca2b0c70ad03ef5191b48c35c5c7457bad3b3743"


def test_a_key_is_stored_as_its_hash():
    assert hash_key("fk_example") == "sha256:bd45af342c240608529de590dc5868e961d5f9c4db8fa6cc43d22b477a5be282"
