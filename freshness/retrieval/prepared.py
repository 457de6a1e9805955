"""Statements of the retrieval path with IN lists, compiled once per dialect and list sizes and run as text.

Run through SQLAlchemy's execution of a statement (its cache key, the expanding IN rendered again for
every call), a retrieval's reads cost several times the reads themselves on SQLite. Compiled once and
handed to `Connection.exec_driver_sql`, they still pass the engine's events, as every other statement does.

List sizes are rounded up to powers of two, so a process holds a handful of texts per statement; a shorter
list repeats its last value, which leaves an IN list's meaning unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BindParameter, ClauseElement, Dialect, bindparam


@dataclass(frozen=True)
class Prepared:
    """A statement as the driver takes it: its text and how its parameters are passed."""

    sql: str
    sizes: dict[str, int]  # list name -> how many values its IN list takes
    fixed: dict[str, Any]  # the parameters that are not list values (a LIMIT written by the compiler)
    order: tuple[str, ...] | None  # the parameters' names in order for a positional driver (SQLite), else None

    def parameters(self, **lists: Sequence[Any]) -> tuple[Any, ...] | dict[str, Any]:
        values = dict(self.fixed)
        for name, size in self.sizes.items():
            given = lists[name]
            for i in range(size):
                values[f"{name}{i}"] = given[i] if i < len(given) else given[-1]
        return values if self.order is None else tuple(values[key] for key in self.order)


Builder = Callable[..., ClauseElement]
_PREPARED: dict[tuple[Builder, Dialect, tuple[tuple[str, int], ...]], Prepared] = {}


def prepared(build: Builder, dialect: Dialect, **counts: int) -> Prepared:
    """`build(**lists)` compiled for `dialect`, each list given as that many bound values (rounded up).

    `build` receives, for each name of `counts`, a list of bound parameters to put in its IN clause."""
    sizes = {name: 1 << (max(count, 1) - 1).bit_length() for name, count in counts.items()}
    key = (build, dialect, tuple(sorted(sizes.items())))
    found = _PREPARED.get(key)
    if found is None:
        params: dict[str, list[BindParameter[Any]]] = {
            name: [bindparam(f"{name}{i}") for i in range(size)] for name, size in sizes.items()}
        compiled = build(**params).compile(dialect=dialect)
        names = {p.key for group in params.values() for p in group}
        constructed = compiled.construct_params({n: "" for n in names}) or {}
        fixed = {k: v for k, v in constructed.items() if k not in names}
        positions = getattr(compiled, "positiontup", None)
        order = tuple(positions) if positions is not None else None
        found = _PREPARED.setdefault(key, Prepared(compiled.string, sizes, fixed, order))
    return found
