"""Statements compiled once with IN lists rounded up in size read exactly what SQLAlchemy's own execution reads."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Select, Table, select

from freshness.db import make_engine
from freshness.models import ServiceState
from freshness.retrieval.prepared import prepared

_STATE: Table = ServiceState.__table__  # type: ignore[assignment]


def _of(keys: Any, values: Any) -> Select[Any]:
    # Two lists and a LIMIT the compiler binds itself, as the chunk rows' statement has.
    return (select(_STATE.c.key).where(_STATE.c.key.in_(keys), _STATE.c.value.in_(values))
            .order_by(_STATE.c.key).limit(100))


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    with engine.begin() as conn:
        conn.execute(_STATE.insert(), [{"key": f"k{i}", "value": f"v{i % 3}"} for i in range(12)])
    yield engine
    engine.dispose()


@pytest.mark.parametrize("count", [1, 2, 3, 5, 8, 9])
def test_a_shorter_list_than_its_statement_takes_reads_the_same_rows(engine, count):
    keys = [f"k{i}" for i in range(0, 2 * count, 2)]
    values = ["v0", "v2"][: 1 + count % 2]
    with engine.connect() as conn:
        expected = list(conn.scalars(_of(keys, values)))
        statement = prepared(_of, conn.dialect, keys=len(keys), values=len(values))
        got = list(conn.exec_driver_sql(statement.sql, statement.parameters(keys=keys, values=values)).scalars())
    assert statement.sizes["keys"] >= len(keys) and statement.sizes["keys"] & (statement.sizes["keys"] - 1) == 0
    assert expected and got == expected


def test_each_size_is_compiled_once(engine):
    with engine.connect() as conn:
        three = prepared(_of, conn.dialect, keys=3, values=1)
        assert prepared(_of, conn.dialect, keys=4, values=1) is three
        assert prepared(_of, conn.dialect, keys=5, values=1) is not three
