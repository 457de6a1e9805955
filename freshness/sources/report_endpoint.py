"""GET /v1/freshness: the freshness report, one item per live source."""

from __future__ import annotations

from litestar import Request, get

from freshness.api import ANY_KEY, call
from freshness.auth.keys import Principal
from freshness.db import read_scope
from freshness.errors import InvalidInput
from freshness.runtime import Runtime
from freshness.sources.report import STATUSES, count_by_status, freshness_report
from freshness.wire import parse_limit


@get("/freshness", summary="Freshness of every live source", tags=["sources"])
async def freshness_endpoint(request: Request) -> dict:
    params = request.query_params

    def work(rt: Runtime, who: Principal) -> dict:
        status = params.get("status")
        if status is not None and status not in STATUSES:
            raise InvalidInput(f"status must be one of {', '.join(STATUSES)}; got {status!r}", field="status")
        limit = parse_limit(params.get("limit"), default=100, maximum=1000)
        position = rt.cursors.decode(params.get("cursor")) or {}
        filters = {"source_class": params.get("source_class"), "owner": params.get("owner")}

        def tx(session) -> dict:
            now = rt.clock.now()
            policy = rt.policy.current
            scanned = freshness_report(session, policy, now, after=position.get("after"), limit=limit + 1, **filters)
            more = len(scanned) > limit
            page = scanned[:limit]
            everything = freshness_report(session, policy, now, **filters)
            return {
                "items": [row for row in page if status is None or row.status == status],
                "next_cursor": rt.cursors.encode({"after": page[-1].source_id}) if more else None,
                "generated_at": now,
                "policy_version": policy.version,
                "counts": count_by_status(everything),
                "critical_blocked": sorted(row.source_id for row in everything if row.blocks_critical),
            }

        with read_scope(rt.sessions) as session:
            report = tx(session)
        try:
            report["points_not_indexed"] = rt.store.unindexed_count()
        except Exception:  # the report is about the database; a store hiccup must not hide it
            report["points_not_indexed"] = None
        return report

    return await call(request, ANY_KEY, work)
