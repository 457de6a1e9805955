"""The OpenAPI 3.1 document at /schema/openapi.json and the reference page at /schema.

The document is generated from the typed handlers; this module adds what they cannot say: the
bearer scheme, and a page whose every asset (Swagger UI 5, which reads OpenAPI 3.1) is served by
the app itself from the swagger-ui-py package, so it works offline and behind a firewall.
"""

from __future__ import annotations

from pathlib import Path

import swagger_ui
from litestar import Router
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.static_files import create_static_files_router

from freshness import __version__

ASSETS = "/schema/assets"
_SWAGGER_STATIC = Path(swagger_ui.__file__).parent / "static"
_DESCRIPTION = (
    "Versioned snapshots, max-age policies and an audit trail in front of a vector store. Every /v1 operation "
    "needs `Authorization: Bearer <key>`; errors are RFC 9457 problem details (`application/problem+json`)."
)


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="freshness",
        version=__version__,
        description=_DESCRIPTION,
        path="/schema",
        components=Components(
            security_schemes={
                "bearer": SecurityScheme(type="http", scheme="bearer", description="An API key: fk_...")
            }
        ),
        render_plugins=[
            JsonRenderPlugin(),
            SwaggerRenderPlugin(
                path="/",
                js_url=f"{ASSETS}/swagger-ui-bundle.js",
                css_url=f"{ASSETS}/swagger-ui.css",
                standalone_preset_js_url=f"{ASSETS}/swagger-ui-standalone-preset.js",
                favicon=f"<link rel='icon' type='image/png' href='{ASSETS}/favicon-32x32.png'>",
            ),
        ],
    )


def schema_assets() -> Router:
    """Swagger UI's script, stylesheet and icons, from the installed package."""
    return create_static_files_router(path=ASSETS, directories=[_SWAGGER_STATIC], include_in_schema=False,
                                      name="schema-assets")
