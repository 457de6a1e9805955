"""The console: server-rendered pages under /console for auditors and content owners (SPEC §11).

Pages call the same services as the HTTP handlers, under the same guards and owner checks; a session
cookie (freshness.console.session) stands in for the bearer key. Every asset is served by the app, and
every page works without JavaScript.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from litestar import Router, get
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import ResponseHeader
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect
from litestar.static_files import create_static_files_router
from litestar.template import TemplateConfig

from freshness.console import display
from freshness.console.board import board
from freshness.console.evidence import replay_page
from freshness.console.pages import EXCEPTION_HANDLERS
from freshness.console.requests import RequestPages
from freshness.console.secret import load_console_keys
from freshness.console.session import COOKIE_PATH, SessionCookies
from freshness.console.signin import COOKIES_OPT, login_page, sign_in, sign_out
from freshness.console.snapshots import SnapshotPages
from freshness.console.sources import SourcePages
from freshness.settings import Settings

HERE = Path(__file__).parent
# Forms are only on console pages: the JSON API, health, metrics and the schema are left to the bearer key,
# which no other site's page can make a browser send.
NOT_FORMS = [r"^/v1(/|$)", r"^/health$", r"^/ready$", r"^/metrics$", r"^/schema(/|$)"]


# Pages show audit content and carry forms that change what is served: no other site may frame them (a
# confirmation button under someone else's page), load anything into them, or find them in a cache.
PAGE_HEADERS = [
    ResponseHeader(name="Content-Security-Policy", value=(
        "default-src 'none'; style-src 'self'; style-src-attr 'unsafe-inline'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")),
    ResponseHeader(name="X-Frame-Options", value="DENY"),
    ResponseHeader(name="X-Content-Type-Options", value="nosniff"),
    ResponseHeader(name="Referrer-Policy", value="same-origin"),
    ResponseHeader(name="Cache-Control", value="no-store"),
]


@dataclass(frozen=True)
class Console:
    router: Router
    csrf: CSRFConfig
    templates: TemplateConfig


@get("/", include_in_schema=False, sync_to_thread=False)
def home() -> Redirect:
    return Redirect("/console/freshness", status_code=303)


def _engine(engine: JinjaTemplateEngine) -> None:
    display.register(engine.engine)


def console(settings: Settings) -> Console:
    """The console's routes, and the CSRF and template configuration the app needs for them."""
    keys = load_console_keys(settings)
    cookies = SessionCookies(keys.session, settings.console_secure_cookie)
    signed_in = Router(path="/", guards=[cookies.guard], include_in_schema=False, response_headers=PAGE_HEADERS,
                       route_handlers=[home, board, RequestPages, replay_page, SourcePages, SnapshotPages])
    signing = Router(path="/", route_handlers=[login_page, sign_in, sign_out], response_headers=PAGE_HEADERS,
                     include_in_schema=False)
    router = Router(
        path="/console",
        route_handlers=[
            signing, signed_in,
            create_static_files_router(path="/static", directories=[HERE / "static"], include_in_schema=False,
                                       name="console-static"),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        opt={COOKIES_OPT: cookies},
        include_in_schema=False,
    )
    csrf = CSRFConfig(secret=keys.csrf, cookie_name="freshness_csrf", cookie_path=COOKIE_PATH,
                      cookie_httponly=True, cookie_samesite="strict", cookie_secure=settings.console_secure_cookie,
                      exclude=NOT_FORMS)
    templates = TemplateConfig(directory=HERE / "templates", engine=JinjaTemplateEngine, engine_callback=_engine)
    return Console(router=router, csrf=csrf, templates=templates)
