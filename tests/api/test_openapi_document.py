"""What the author of a client reads: /schema/openapi.json (SPEC §4, the OpenAPI contract).

The document is valid OpenAPI 3.1; every /v1 operation asks for the bearer key and says that it
answers 401 and 503; every error it lists is problem details; every body and every success has a
schema; /schema renders from assets the app serves itself; and a public generator, run offline,
makes typed models of the operations a RAG app and an auditor call.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from bs4 import BeautifulSoup
from litestar.testing import TestClient
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from freshness.app import create_app
from freshness.settings import Settings

PROBLEM = "application/problem+json"
PROBLEM_REF = "#/components/schemas/Problem"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

# The operations SPEC §4 gives a request body.
BODIES = [("post", "/v1/sources"), ("patch", "/v1/sources/{source_id}"), ("post", "/v1/sources/{source_id}/snapshots"),
          ("post", "/v1/retrieve")]

# What a RAG app and an auditor call, with the success whose model they decode.
TYPED_CALLS = {
    ("post", "/v1/retrieve"): "200",
    ("post", "/v1/sources"): "201",
    ("post", "/v1/sources/{source_id}/snapshots"): "201",
    ("get", "/v1/audit/retrievals/{request_id}"): "200",
}

def _app(data_dir: Path):
    # Neither the document nor the page needs the database or the store: no lifespan is run.
    return create_app(Settings(data_dir=data_dir, scheduler=False))


@cache
def served_document() -> dict:
    with tempfile.TemporaryDirectory() as data_dir:
        response = TestClient(app=_app(Path(data_dir))).get("/schema/openapi.json")
    assert response.status_code == 200, response.text
    return response.json()


def _param(method: str, path: str):
    return pytest.param(method, path, id=f"{method.upper()} {path}")


def _operations(where=lambda method, path: True) -> list:
    doc = served_document()
    return [_param(method, path)
            for path, item in doc["paths"].items() for method in METHODS if method in item and where(method, path)]


def _operation(method: str, path: str) -> dict:
    return served_document()["paths"][path][method]


def _has_body(method: str, path: str) -> bool:
    return "requestBody" in _operation(method, path)


def _is_typed(schema: dict, media_type: str) -> bool:
    """A named model (a $ref), a list of named models, or, for what is not JSON, at least a type."""
    if "$ref" in schema:
        return True
    if schema.get("type") == "array":
        return _is_typed(schema.get("items", {}), media_type)
    is_json = media_type == "application/json" or media_type.endswith("+json")
    return not is_json and "type" in schema


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> TestClient:
    return TestClient(app=_app(tmp_path_factory.mktemp("site")))


def test_the_document_is_valid_openapi_3_1():
    doc = served_document()
    assert doc["openapi"].startswith("3.1")
    validate(doc, cls=OpenAPIV31SpecValidator)


def test_the_bearer_scheme_is_declared():
    scheme = served_document()["components"]["securitySchemes"]["bearer"]
    assert scheme["type"] == "http"
    assert scheme["scheme"].lower() == "bearer"


@pytest.mark.parametrize(("method", "path"), _operations(lambda method, path: path.startswith("/v1/")))
def test_every_v1_operation_asks_for_the_key_and_lists_401_and_503(method, path):
    operation = _operation(method, path)
    assert {"bearer": []} in operation.get("security", []), "no bearer requirement"
    for status in ("401", "503"):
        answer = operation["responses"].get(status)
        assert answer is not None, f"{status} not listed"
        assert answer["content"] == {PROBLEM: {"schema": {"$ref": PROBLEM_REF}}}, f"{status}: {answer['content']}"


@pytest.mark.parametrize(("method", "path"), _operations(lambda method, path: not path.startswith("/v1/")))
def test_probes_need_no_key(method, path):
    assert not _operation(method, path).get("security")


@pytest.mark.parametrize(("method", "path"), _operations())
def test_every_error_listed_is_problem_details(method, path):
    """Litestar's own 400 (`application/json`, `status_code`) must not leak: the service never sends it."""
    for status, answer in _operation(method, path)["responses"].items():
        if status[0] in "45":
            assert answer.get("content") == {PROBLEM: {"schema": {"$ref": PROBLEM_REF}}}, \
                f"{status} is listed as {answer.get('content')}"


@pytest.mark.parametrize(("method", "path"), _operations())
def test_what_validation_answers_is_listed(method, path):
    operation = _operation(method, path)
    listed = set(operation["responses"])
    if operation.get("parameters"):
        assert "422" in listed, "a parameter can be refused with 422"
    if "requestBody" in operation:
        assert {"400", "413", "422"} <= listed, "a body can be malformed (400), too large (413) or invalid (422)"


@pytest.mark.parametrize(("method", "path"), _operations(_has_body))
def test_every_request_body_names_its_model(method, path):
    content = _operation(method, path)["requestBody"]["content"]
    assert list(content) == ["application/json"]
    assert "$ref" in content["application/json"]["schema"], content


@pytest.mark.parametrize(("method", "path"), _operations(_has_body))
def test_every_request_body_says_it_takes_no_other_field(method, path):
    """The service refuses an unknown field with 422; a client and a fuzzer must know it is not optional extra."""
    ref = _operation(method, path)["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert served_document()["components"]["schemas"][ref.rsplit("/", 1)[1]].get("additionalProperties") is False


@pytest.mark.parametrize(("method", "path"), [_param(method, path) for method, path in BODIES])
def test_the_bodies_spec_names_are_in_the_document(method, path):
    assert "requestBody" in _operation(method, path), "the handler reads a body the document does not describe"


@pytest.mark.parametrize(("method", "path"), _operations())
def test_every_success_has_a_schema(method, path):
    successes = {status: answer for status, answer in _operation(method, path)["responses"].items()
                 if status.startswith("2")}
    assert successes, "no 2xx listed"
    for status, answer in successes.items():
        assert answer.get("content"), f"{status} has no content"
        for media_type, media in answer["content"].items():
            assert _is_typed(media.get("schema", {}), media_type), f"{status} {media_type}: {media.get('schema')}"


def _local(url: str) -> bool:
    parts = urlsplit(url)
    return not parts.scheme and not parts.netloc and not url.startswith("//")


def test_the_reference_page_loads_only_what_the_app_serves(site):
    page = site.get("/schema")
    assert page.status_code == 200
    html = BeautifulSoup(page.text, "html.parser")
    assets = [tag["src"] for tag in html.find_all(["script", "img"], src=True)]
    assets += [tag["href"] for tag in html.find_all("link", href=True)]
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets), assets
    for asset in assets:
        assert _local(asset), f"{asset} is fetched from elsewhere"
        answer = site.get(asset if asset.startswith("/") else f"/schema/{asset}")
        assert answer.status_code == 200, asset
        if asset.endswith(".css"):
            for url in re.findall(r"url\(\s*['\"]?([^'\")]+)", answer.text):
                assert url.startswith("data:") or _local(url), f"{asset} loads {url}"


# A generated client ----------------------------------------------------------------------------------


def _names_model(part: dict | None) -> bool:
    return "$ref" in (part or {}).get("content", {}).get("application/json", {}).get("schema", {})


def _untyped_calls() -> list[str]:
    missing = []
    for (method, path), status in TYPED_CALLS.items():
        operation = served_document()["paths"].get(path, {}).get(method)
        if operation is None:
            missing.append(f"{method.upper()} {path} (absent)")
            continue
        lacking = [] if method == "get" or _names_model(operation.get("requestBody")) else ["request body"]
        if not _names_model(operation["responses"].get(status)):
            lacking.append(f"{status} answer")
        if lacking:
            missing.append(f"{method.upper()} {path} ({', '.join(lacking)})")
    return missing


def _module_for(package: Path, method: str, path: str) -> ast.Module:
    """The generated module whose request is `method path`."""
    for source in (package / "api").rglob("*.py"):
        tree = ast.parse(source.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Dict):
                pairs = zip(node.keys, node.values, strict=True)
                entries = {k.value: v for k, v in pairs if isinstance(k, ast.Constant)}
                url = entries.get("url")
                if isinstance(url, ast.Call) and isinstance(url.func, ast.Attribute):
                    url = url.func.value  # "/v1/sources/{source_id}".format(...)
                if isinstance(entries.get("method"), ast.Constant) and entries["method"].value == method \
                        and isinstance(url, ast.Constant) and url.value == path:
                    return tree
    raise AssertionError(f"no generated call for {method.upper()} {path}")


def _function(tree: ast.Module, name: str) -> ast.FunctionDef:
    return next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)


def _decoded_on(tree: ast.Module, status: str) -> str:
    """The model `_parse_response` builds for `status`: `X.from_dict(response.json())`."""
    for node in ast.walk(_function(tree, "_parse_response")):
        if isinstance(node, ast.If) and status in ast.unparse(node.test):
            for call in ast.walk(node):
                func = call.func if isinstance(call, ast.Call) else None
                if isinstance(func, ast.Attribute) and func.attr == "from_dict":
                    return ast.unparse(func.value)
    raise AssertionError(f"the {status} answer is not decoded into a model")


def _model_fields(package: Path, name: str) -> set[str]:
    for source in (package / "models").glob("*.py"):
        tree = ast.parse(source.read_text())
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and node.name == name:
                return {item.target.id.rstrip("_") for item in node.body
                        if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)}
    raise AssertionError(f"no generated model {name}")


def _schema_fields(ref_holder: dict) -> set[str]:
    name = ref_holder["schema"]["$ref"].rsplit("/", 1)[1]
    return set(served_document()["components"]["schemas"][name].get("properties", {}))


def test_a_generated_client_has_typed_models(tmp_path):
    untyped = _untyped_calls()
    if untyped:
        pytest.skip("these operations are not typed in the document yet: " + "; ".join(untyped))
    document = tmp_path / "openapi.json"
    document.write_text(json.dumps(served_document()))
    # No post-hooks: the generator would run a formatter, which is neither needed nor installed everywhere.
    config = tmp_path / "generator.json"
    config.write_text('{"post_hooks": []}')
    package = tmp_path / "freshness_client"
    run = subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate", "--path", str(document), "--output-path",
         str(package), "--meta", "none", "--config", str(config), "--fail-on-warning"],
        check=False, capture_output=True, text=True, timeout=240,
    )
    assert run.returncode == 0, run.stdout + run.stderr

    for (method, path), status in TYPED_CALLS.items():
        operation = _operation(method, path)
        tree = _module_for(package, method, path)
        answer = _decoded_on(tree, status)
        assert _schema_fields(operation["responses"][status]["content"]["application/json"]) \
            <= _model_fields(package, answer), f"{method.upper()} {path}: {answer} lacks fields"
        if "requestBody" in operation:
            body = next(a for a in _function(tree, "_get_kwargs").args.kwonlyargs if a.arg == "body")
            model = ast.unparse(body.annotation)
            assert model.isidentifier(), f"{method.upper()} {path}: the body is typed as {model}"
            assert _schema_fields(operation["requestBody"]["content"]["application/json"]) \
                <= _model_fields(package, model), f"{method.upper()} {path}: {model} lacks fields"

