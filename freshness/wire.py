"""Decoding request bodies and query parameters into msgspec Structs, with errors that name the field."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any, TypeVar

import msgspec

from freshness.errors import InvalidInput, MalformedBody

T = TypeVar("T")


def decode_body(raw: bytes, kind: type[T]) -> T:
    """Malformed JSON is a 400; a body of the wrong shape is a 422 that names the field."""
    if not raw.strip():
        raise MalformedBody("the request body is empty; send a JSON object")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"the request body is not valid UTF-8 (byte {exc.start})", field="body") from exc
    try:
        value = msgspec.json.decode(raw, type=kind)
    except msgspec.ValidationError as exc:
        message = str(exc)
        field = message.rsplit("at `", 1)[-1].rstrip("`") if "at `" in message else None
        if field is None and "field `" in message:
            field = message.split("field `", 1)[1].split("`", 1)[0]
        raise InvalidInput(message, field=field) from exc
    except msgspec.DecodeError as exc:  # ValidationError is a subclass, so it is caught above
        raise MalformedBody(f"the request body is not valid JSON: {exc}") from exc
    check_text(value)
    return value


def check_text(value: Any, path: str = "$") -> None:
    """Refuse strings with lone surrogates (JSON escapes that are not valid UTF-8 text)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidInput(f"{path} holds text that is not valid UTF-8", field=path) from exc
    elif isinstance(value, msgspec.Struct):
        for name in value.__struct_fields__:
            check_text(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, (str, msgspec.Struct, list, dict)):
                check_text(item, f"{path}[{index}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(key, path)
            check_text(item, f"{path}.{key}")


class CursorCodec:
    """Opaque, signed list cursors: a tampered cursor is refused, not silently misread."""

    def __init__(self, secret: bytes) -> None:
        self.secret = secret

    def encode(self, position: dict[str, Any]) -> str:
        body = base64.urlsafe_b64encode(json.dumps(position, separators=(",", ":")).encode()).decode().rstrip("=")
        mac = hmac.new(self.secret, body.encode(), hashlib.sha256).hexdigest()[:24]
        return f"{body}.{mac}"

    def decode(self, cursor: str | None) -> dict[str, Any] | None:
        if not cursor:
            return None
        body, _, mac = cursor.partition(".")
        expected = hmac.new(self.secret, body.encode(), hashlib.sha256).hexdigest()[:24]
        if not mac or not hmac.compare_digest(mac, expected):
            raise InvalidInput("the cursor is not one this service issued; start again without it", field="cursor")
        padded = body + "=" * (-len(body) % 4)
        return json.loads(base64.urlsafe_b64decode(padded))


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
