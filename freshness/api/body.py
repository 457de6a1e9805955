"""Request bodies as typed `data:` Structs, decoded by the service's own wire rules.

Litestar's default decoding converts loosely (the string "5" becomes the integer 5) and names only
the last key of a bad field. `JSONBody[T]` hands the raw body to `freshness.wire.decode_body`
instead: strict types, a 422 whose `field` names the full path (`filters.source_ids`), text that
no backend can store refused, nesting bounded. Its `detail` reads as every other 422 does:
`title: Expected `str`, got `null``, never msgspec's `$.title` nor a raw regular expression. The
OpenAPI document still describes the body by the Struct itself, under its own name, and says that
a Struct which refuses unknown fields takes no other property (`additionalProperties: false`).
"""

from __future__ import annotations

import re
from collections.abc import Generator
from typing import Any, TypeVar

import msgspec
import msgspec.inspect as mi
from litestar.dto import AbstractDTO
from litestar.dto.data_structures import DTOFieldDefinition
from litestar.typing import FieldDefinition

from freshness.errors import InvalidInput
from freshness.wire import decode_body

T = TypeVar("T")
_AT = re.compile(r" - at `\$[^`]*`$")
_PATTERN = re.compile(r"matching regex '.*'")


def readable(error: InvalidInput) -> InvalidInput:
    """msgspec's message in the service's words: `field: what is wrong`, the pattern named, not printed."""
    field = error.extra.get("field")
    # A function, not a template: a field name comes from the caller and may hold a backslash.
    detail = _PATTERN.sub(lambda _: f"matching the pattern of `{field}` in /schema/openapi.json", error.detail)
    stripped = _AT.sub("", detail)
    if stripped != detail and field:
        detail = f"{field}: {stripped}"
    if detail == error.detail:
        return error
    return InvalidInput(detail, **error.extra)


def _strict_structs(info: mi.Type, seen: set[type] | None = None) -> set[type]:
    """The Structs reachable from a type that refuse unknown fields (`forbid_unknown_fields=True`)."""
    seen = set() if seen is None else seen
    if isinstance(info, mi.StructType):
        if info.cls in seen:
            return seen
        if info.forbid_unknown_fields:
            seen.add(info.cls)
        inner = [f.type for f in info.fields]
    elif isinstance(info, mi.UnionType):
        inner = list(info.types)
    elif isinstance(info, (mi.ListType, mi.SetType, mi.FrozenSetType, mi.VarTupleType)):
        inner = [info.item_type]
    elif isinstance(info, mi.DictType):
        inner = [info.value_type]
    else:
        inner = []
    for item in inner:
        _strict_structs(item, seen)
    return seen


class JSONBody(AbstractDTO[T]):
    """Use as `dto=JSONBody[SourceCreate], return_dto=None` on a handler that takes `data: SourceCreate`."""

    @classmethod
    def create_for_field_definition(cls, field_definition: FieldDefinition, handler_id: str,
                                    backend_cls: Any = None) -> None:
        return None  # nothing to build: decoding is decode_body's

    @classmethod
    def create_openapi_schema(cls, field_definition: FieldDefinition, handler_id: str, schema_creator: Any) -> Any:
        schema = schema_creator.for_field_definition(FieldDefinition.from_annotation(cls.model_type))
        # Litestar leaves this out; without it a client or a fuzzer takes an unknown field for a valid one.
        for struct in _strict_structs(mi.type_info(cls.model_type)):
            component = schema_creator.schema_registry.get_schema_for_field_definition(
                FieldDefinition.from_annotation(struct))
            component.additional_properties = False
        return schema

    def decode_bytes(self, value: bytes) -> Any:
        try:
            return decode_body(value, self.model_type)
        except InvalidInput as error:
            raise readable(error) from error

    def decode_builtins(self, value: dict[str, Any]) -> Any:
        return msgspec.convert(value, self.model_type)

    @classmethod
    def generate_field_definitions(cls, model_type: type[Any]) -> Generator[DTOFieldDefinition, None, None]:
        yield from ()

    @classmethod
    def detect_nested_field(cls, field_definition: FieldDefinition) -> bool:
        return False
