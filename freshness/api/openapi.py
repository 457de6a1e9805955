"""The OpenAPI 3.1 document at /schema/openapi.json and the reference page at /schema.

The document is generated from the typed handlers; this module adds what they cannot say: the
bearer scheme; the answers an operation gives whatever its handler (`complete_answers`); and a page
whose every asset (Swagger UI 5, which reads OpenAPI 3.1) is served by the app itself from the
swagger-ui-py package, so it works offline and behind a firewall.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

import swagger_ui
from litestar import Router
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import (
    Components,
    OpenAPI,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Reference,
    Schema,
    SecurityScheme,
)
from litestar.static_files import create_static_files_router

from freshness import __version__
from freshness.api.problem_details import PROBLEM, problems

ASSETS = "/schema/assets"
_SWAGGER_STATIC = Path(swagger_ui.__file__).parent / "static"
_DESCRIPTION = (
    "Versioned snapshots, max-age policies and an audit trail in front of a vector store. Every /v1 operation "
    "needs `Authorization: Bearer <key>`; errors are RFC 9457 problem details (`application/problem+json`)."
)


def _problem_answer(status: int) -> OpenAPIResponse:
    return OpenAPIResponse(
        description=problems(status)[status].description,
        content={PROBLEM: OpenAPIMediaType(schema=Reference(ref="#/components/schemas/Problem"))},
    )


def complete_answers(operation: Operation) -> None:
    """Say in the document what the service answers whatever the handler declares.

    - Every error is problem details: Litestar lists its own 400 as `application/json` on every
      operation with a parameter, a shape the service never sends; generated clients would decode
      the real answer with the wrong model, or drop it.
    - The /v1 guard looks the key up in the database before the handler runs: 401 and 503.
    - A parameter of the wrong type or out of bounds: 422.
    - A body: 400 when it is not JSON, 413 past FRESHNESS_MAX_BODY, 422 when its shape is wrong.
    A status the handler lists itself keeps the handler's description.
    - A response header is a string: Litestar lists a documentation-only header with no schema,
      which OpenAPI 3.1 refuses.
    """
    answers = operation.responses if operation.responses is not None else {}
    for status, answer in list(answers.items()):
        if not isinstance(answer, OpenAPIResponse):
            continue
        if status[0] in "45" and answer.content is not None and PROBLEM not in answer.content:
            answers[status] = answer = _problem_answer(int(status))
        for header in (answer.headers or {}).values():
            if isinstance(header, OpenAPIHeader) and header.schema is None and header.content is None:
                header.schema = Schema(type=OpenAPIType.STRING)
    needed: list[int] = []
    if operation.security:
        needed += [401, 503]
    if operation.parameters:
        needed.append(422)
    if operation.request_body is not None:
        needed += [400, 413, 422]
    for code in needed:
        answers.setdefault(str(code), _problem_answer(code))
    operation.responses = dict(sorted(answers.items()))


class _Document(OpenAPI):
    """The generated document, each operation completed by `complete_answers` when it is rendered."""

    def to_schema(self) -> dict[str, Any]:
        for item in (self.paths or {}).values():
            for method in ("get", "put", "post", "delete", "options", "head", "patch", "trace"):
                operation = getattr(item, method, None)
                if operation is not None:
                    complete_answers(operation)
        return super().to_schema()


class _ServiceOpenAPIConfig(OpenAPIConfig):
    def to_openapi_schema(self) -> OpenAPI:
        # Litestar fills in the paths of the object returned here, then renders it.
        base = super().to_openapi_schema()
        return _Document(**{f.name: getattr(base, f.name) for f in fields(base)})


def openapi_config() -> OpenAPIConfig:
    return _ServiceOpenAPIConfig(
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
