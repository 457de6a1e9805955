"""Chunk ids: UUIDs (a Qdrant point id must be one), made together, counting up from a time-ordered start."""

from __future__ import annotations

import time
import uuid

from freshness.ids import new_chunk_ids


def test_a_publish_s_chunk_ids_are_distinct_uuids_in_ascending_order() -> None:
    ids = new_chunk_ids(1_000)
    assert len(set(ids)) == 1_000
    assert [str(uuid.UUID(i)) for i in ids] == ids
    assert [uuid.UUID(i).int for i in ids] == sorted(uuid.UUID(i).int for i in ids)
    assert new_chunk_ids(0) == []


def test_ids_made_later_sort_after_earlier_ones() -> None:
    first = new_chunk_ids(3)
    time.sleep(0.002)  # the start's leading bits are milliseconds: a later millisecond sorts after
    second = new_chunk_ids(3)
    assert uuid.UUID(second[0]).int > uuid.UUID(first[-1]).int
    assert (uuid.UUID(first[0]).int >> 80) <= time.time_ns() // 1_000_000
