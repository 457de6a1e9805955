"""The Litestar application: create_app(settings) opens resources in the lifespan and closes them after."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, Router

from freshness.api import BEARER, DEPENDENCIES, EXCEPTION_HANDLERS, authenticated
from freshness.api.deps import INLINE_KEYS
from freshness.api.openapi import openapi_config, schema_assets
from freshness.audit.endpoints import AuditController
from freshness.auth.inline import open_inline_keys
from freshness.clock import Clock
from freshness.console import console
from freshness.health import health, metrics, ready
from freshness.jobs.scheduler import JobScheduler
from freshness.policy.endpoints import PolicyController
from freshness.retrieval.endpoints import retrieve_endpoint
from freshness.runtime import Runtime, open_runtime
from freshness.settings import Settings
from freshness.sources.endpoints import SnapshotController, SourceController
from freshness.sources.publish import recover_unfinished
from freshness.sources.report_endpoint import freshness_endpoint
from freshness.trust.endpoints import EvidenceController
from freshness.uploads.endpoints import UploadController
from freshness.vectorstore import VectorStore
from freshness.wire import refuse_nul_parameters

log = logging.getLogger("freshness")


def create_app(
    settings: Settings,
    clock: Clock | None = None,
    store: VectorStore | None = None,
    runtime: Runtime | None = None,
) -> Litestar:
    """The app for `settings`. The database must be migrated first (`freshness db upgrade`)."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        rt = runtime or open_runtime(settings, clock=clock, store=store)
        app.state.runtime = rt
        recovered = recover_unfinished(rt, all_ingesting=settings.uses_embedded_store)
        if recovered:
            log.warning("marked %d interrupted publishes as failed: %s", len(recovered), ", ".join(recovered))
        rt.store.warm_up()
        jobs = JobScheduler(rt) if settings.scheduler else None
        if jobs is not None:
            jobs.start()
        app.state.scheduler = jobs
        inline = app.state[INLINE_KEYS] = open_inline_keys(rt.engine)
        try:
            yield
        finally:
            try:
                if inline is not None:
                    inline.close()
                if jobs is not None:
                    jobs.shutdown()
            finally:
                if runtime is None:
                    rt.close()

    # Every /v1 operation needs a key: the guard looks it up before the body is read.
    v1 = Router(
        path="/v1",
        route_handlers=[
            SourceController, SnapshotController, PolicyController, retrieve_endpoint, AuditController,
            freshness_endpoint, UploadController, EvidenceController,
        ],
        guards=[authenticated],
        security=BEARER,
    )
    # The console's pages, with the CSRF check and templates they need (freshness.console).
    pages = console(settings)
    return Litestar(
        route_handlers=[health, ready, metrics, v1, schema_assets(), pages.router],
        dependencies=DEPENDENCIES,
        lifespan=[lifespan],
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[refuse_nul_parameters],
        csrf_config=pages.csrf,
        template_config=pages.templates,
        request_max_body_size=settings.max_body,
        openapi_config=openapi_config(),
        debug=False,
    )
