"""Decoding request bodies and query parameters into msgspec Structs, with errors that name the field.

Whatever passes here can be stored by every backend: no NUL character (PostgreSQL text cannot hold
one), no free-form JSON nested more than MAX_DEPTH levels, no metadata over MAX_METADATA_BYTES. Field
names in errors take one form: `title`, `documents[0].text`, `filters.source_ids`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qsl

import msgspec
import msgspec.inspect as mi

from freshness.errors import InvalidInput, MalformedBody

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Receive, Scope, Send

T = TypeVar("T")

# Metadata is stored as JSON and hashed into every document hash: depth and size beyond these buy
# nothing a publisher needs and cost every reader of the row.
MAX_DEPTH = 16
MAX_METADATA_BYTES = 64 * 1024
NUL = "\x00"


def decode_body(raw: bytes, kind: type[T]) -> T:
    """Malformed JSON is a 400; a body of the wrong shape, or that no backend can store, is a 422 naming the field."""
    if not raw.strip():
        raise MalformedBody("the request body is empty; send a JSON object")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"the request body is not valid UTF-8 (byte {exc.start})", field="body") from exc
    try:
        value = msgspec.json.decode(raw, type=kind)
    except msgspec.ValidationError as exc:
        raise InvalidInput(str(exc), field=_field_of(str(exc))) from exc
    except RecursionError as exc:
        raise _too_deep(raw, kind) from exc
    except msgspec.DecodeError as exc:  # ValidationError is a subclass, so it is caught above
        if "recursion" in str(exc).lower():
            raise _too_deep(raw, kind) from exc
        raise MalformedBody(f"the request body is not valid JSON: {exc}") from exc
    check_text(value)
    return value


def check_text(value: Any, path: str = "", field: str = "", depth: int = 0) -> None:
    """Refuse what a backend cannot store: lone surrogates, NUL characters, free-form JSON too deep or too big.

    `field` is the Struct field the value lies in and `depth` counts the objects and arrays entered
    since, so the Struct's own shape never counts against MAX_DEPTH while metadata does."""
    if isinstance(value, str):
        if NUL in value:
            where = path or "body"
            raise InvalidInput(f"{where} holds a NUL character (\\u0000), which cannot be stored", field=where)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidInput(f"{path} holds text that is not valid UTF-8", field=path or "body") from exc
    elif isinstance(value, msgspec.Struct):
        for name in value.__struct_fields__:
            item = getattr(value, name)
            where = f"{path}.{name}" if path else name
            check_text(item, where, where)
            if name == "metadata" and isinstance(item, dict):
                size = len(msgspec.json.encode(item, order="sorted"))
                if size > MAX_METADATA_BYTES:
                    raise InvalidInput(f"{where} is {size} bytes of JSON, at most {MAX_METADATA_BYTES}", field=where)
    elif isinstance(value, (list, dict)):
        if depth >= MAX_DEPTH:
            raise _nested_too_deep(field or "body")
        if isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, (str, msgspec.Struct, list, dict)):
                    check_text(item, f"{path}[{index}]", field, depth + 1)
        else:
            for key, item in value.items():
                check_text(key, path, field, depth + 1)
                check_text(item, f"{path}.{key}", field, depth + 1)


def _field_of(message: str) -> str:
    """The field a msgspec error is about, in the form every other error uses: `documents[0].id`, not `$...`.

    An unknown or missing field is named inside the object where it is (`... field `x` - at `$.a[0]``).
    msgspec's ValidationError carries the path only in its text, so the text is read."""
    at = message.rsplit(" - at `", 1)[1].rstrip("`") if " - at `" in message else "$"
    field = at.removeprefix("$").removeprefix(".")
    if "field `" in message:
        name = message.split("field `", 1)[1].split("`", 1)[0]
        field = f"{field}.{name}" if field else name
    return field or "body"


def _nested_too_deep(field: str) -> InvalidInput:
    return InvalidInput(f"{field} nests objects and arrays more than {MAX_DEPTH} levels deep", field=field)


# A string (escapes included) or one structural character: enough to follow nesting without decoding.
_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}:,]')
# Deeper than any Struct's own shape plus MAX_DEPTH: the first container this deep is in a bad field.
_SCAN_DEPTH = 4 * MAX_DEPTH
# About half a second of scanning; a body that hides its deep part further on is answered for `body`.
_SCAN_TOKENS = 2_000_000


def _too_deep(raw: bytes, kind: type) -> InvalidInput:
    """The 422 for a body nested past what the decoder follows, naming the field where it happens.

    Only reached after the decoder gave up, so the scan costs nothing on a well-formed request."""
    steps = _steps_to_deep_container(raw)
    return _nested_too_deep(_struct_field(mi.type_info(kind), steps) if steps else "body")


def _steps_to_deep_container(raw: bytes) -> list[str | int] | None:
    """Keys and array indices leading to the first object or array nested _SCAN_DEPTH levels deep."""
    steps: list[Any] = []  # per open container: the current key (object) or index (array)
    previous = b""
    for count, match in enumerate(_TOKEN.finditer(raw)):
        if count == _SCAN_TOKENS:
            return None
        token = match.group()
        if token in (b"{", b"["):
            if len(steps) >= _SCAN_DEPTH:
                return [s for s in steps if s is not None]
            steps.append(0 if token == b"[" else None)
        elif token in (b"}", b"]"):
            if steps:
                steps.pop()
        elif token == b",":
            if steps and isinstance(steps[-1], int):
                steps[-1] += 1
        elif token != b":" and previous in (b"{", b",") and steps and not isinstance(steps[-1], int):
            steps[-1] = json.loads(token)
        previous = token
    return None


def _struct_field(info: Any, steps: list[str | int]) -> str:
    """How far `steps` follow the body's Struct types: there the free-form value that is too deep begins."""
    field = ""
    for step in steps:
        info = _container(info)
        if isinstance(info, mi.StructType) and isinstance(step, str):
            match = next((f for f in info.fields if f.encode_name == step), None)
            if match is None:
                break
            field, info = (f"{field}.{step}" if field else step), match.type
        elif isinstance(info, mi.ListType) and isinstance(step, int):
            field, info = f"{field}[{step}]", info.item_type
        else:
            break
    return field or "body"


def _container(info: Any) -> Any:
    if isinstance(info, mi.Metadata):
        info = info.type
    if isinstance(info, mi.UnionType):
        return next((t for t in info.types if isinstance(t, (mi.StructType, mi.ListType, mi.DictType))), info)
    return info


def refuse_nul_parameters(app: ASGIApp) -> ASGIApp:
    """Middleware: a NUL character in any path or query parameter of any endpoint is a 422 naming it.

    It runs before the key is checked: no id or filter value can hold a NUL, so the answer tells a
    caller nothing about what the service holds, and no handler ever passes one to the database."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, value in (scope.get("path_params") or {}).items():
                if isinstance(value, str) and NUL in value:
                    raise InvalidInput(f"{name} holds a NUL character (\\u0000)", field=name)
            query = scope.get("query_string", b"").decode("latin-1")
            for name, value in parse_qsl(query, keep_blank_values=True, errors="replace"):
                if NUL in name or NUL in value:
                    field = name.replace(NUL, "") or "query"
                    raise InvalidInput(f"query parameter {field} holds a NUL character (\\u0000)", field=field)
        await app(scope, receive, send)

    return middleware


class CursorCodec:
    """Opaque, signed list cursors: a tampered cursor is refused, not silently misread."""

    def __init__(self, secret: bytes) -> None:
        self.secret = secret

    def encode(self, position: dict[str, Any]) -> str:
        body = base64.urlsafe_b64encode(json.dumps(position, separators=(",", ":")).encode()).decode().rstrip("=")
        mac = hmac.new(self.secret, body.encode(), hashlib.sha256).hexdigest()[:24]
        return f"{body}.{mac}"

    def decode(self, cursor: str | None) -> dict[str, Any] | None:
        """The position a cursor holds. Anything this service did not issue is a 422, however it is broken."""
        if not cursor:
            return None
        refused = InvalidInput("the cursor is not one this service issued; start again without it", field="cursor")
        try:
            # Bytes, not text: compare_digest raises TypeError on non-ASCII str.
            body, _, mac = cursor.encode("ascii").partition(b".")
        except UnicodeEncodeError:
            raise refused from None
        expected = hmac.new(self.secret, body, hashlib.sha256).hexdigest()[:24].encode()
        if not mac or not hmac.compare_digest(mac, expected):
            raise refused
        try:
            position = json.loads(base64.urlsafe_b64decode(body + b"=" * (-len(body) % 4)))
        except (binascii.Error, ValueError):
            raise refused from None
        if not isinstance(position, dict):
            raise refused
        return position


def parse_limit(raw: str | None, default: int = 50, maximum: int = 500) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise InvalidInput(f"limit must be a whole number from 1 to {maximum}", field="limit") from exc
    if not 1 <= value <= maximum:
        raise InvalidInput(f"limit must be from 1 to {maximum}, got {value}", field="limit")
    return value
