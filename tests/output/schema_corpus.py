"""A corpus of answer types for ``liteagent.output.OutputSpec``: Python types (pydantic models,
dataclasses, TypedDicts, generics, Literal, Enum, unions, constrained fields) and plain JSON Schema
dicts, each with one answer that fits and one that does not.

Every entry says what the embedded model's grammar is expected to do with it:

- ``notes``: text each of ``grammar_schema.value_grammar``'s notes must hold one of (what the
  grammar cannot enforce: ``uniqueItems``, ``not``, a pattern it cannot read, wide bounds...);
- ``grammar_rejects``: whether the grammar already refuses the invalid example (False where the
  schema's rule is one the grammar loosens, so only validation catches it);
- ``secret``: the invalid example holds :data:`SECRET`, a long unique string that no error message
  may repeat (errors name the field and the rule, never the value the model wrote);
- ``known``: checks known to fail against the current code, with the reason (the tests mark them
  ``xfail(strict=True)``): ``converts`` (the value grammar is converted, not the any-value fallback),
  ``value_accepts_valid`` / ``value_rejects_invalid`` (the value grammar and the examples),
  ``hermes_constrains`` (the final_answer call in the hermes grammar), ``no_echo`` (errors and SECRET).
"""

from __future__ import annotations

import dataclasses
import enum
import uuid
from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any, Literal, Optional, TypedDict

from pydantic import BaseModel, Field

#: a long string no schema, field name or rule holds: an error message that repeats it echoes the answer
SECRET = "leakcheck-" + "q7Zx4Rw9" * 16


@dataclasses.dataclass(frozen=True)
class Entry:
    name: str
    output_type: Any
    valid: Any
    invalid: Any
    notes: tuple[str, ...] = ()
    grammar_rejects: bool = True
    secret: bool = False
    known: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @property
    def is_schema(self) -> bool:
        return isinstance(self.output_type, Mapping)


# -- pydantic models ----------------------------------------------------------------------------
class Address(BaseModel):
    street: str
    city: str
    zip: str = Field(pattern=r"^\d{5}$")


class Customer(BaseModel):
    name: str
    address: Address


class Order(BaseModel):
    id: int
    customer: Customer
    note: str | None = None


class Profile(BaseModel):
    name: str
    nickname: Optional[str] = None  # noqa: UP045 (typing.Optional, on purpose)
    age: int | None = None


class Ticket(BaseModel):
    title: str
    priority: Literal["low", "mid", "high"]


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"
    BLUE = "blue"


class Paint(BaseModel):
    color: Color
    coats: int


class Level(enum.IntEnum):
    LOW = 1
    MID = 2
    HIGH = 3


class Item(BaseModel):
    sku: str
    qty: int


class Cart(BaseModel):
    items: list[Item] = Field(min_length=1, max_length=3)


class Cat(BaseModel):
    kind: Literal["cat"]
    lives: int


class Dog(BaseModel):
    kind: Literal["dog"]
    good: bool


class Owner(BaseModel):
    pet: Annotated[Cat | Dog, Field(discriminator="kind")]


class Handle(BaseModel):
    handle: str = Field(min_length=3, max_length=8)


class Person(BaseModel):
    name: str
    age: int = Field(ge=0, le=120)


class Temperature(BaseModel):
    celsius: int = Field(ge=-90, le=60)


class Score(BaseModel):
    confidence: float = Field(ge=0, le=1)


class Ratio(BaseModel):
    ratio: float = Field(gt=0, lt=1)


class Code(BaseModel):
    code: str = Field(pattern=r"^[A-Z]{3}-[0-9]{3}$")


class Node(BaseModel):
    value: int
    children: list[Node] = []


class Inventory(BaseModel):
    counts: dict[str, int]
    tags: list[str] = []


class Dated(BaseModel):
    day: date
    ref: uuid.UUID


class Essay(BaseModel):
    """A string with a minimum length and no maximum (longer than the grammar's default bound)."""

    text: str = Field(min_length=500)


# -- dataclasses and TypedDicts -----------------------------------------------------------------
@dataclasses.dataclass
class Point:
    x: float
    y: float


@dataclasses.dataclass
class Polygon:
    name: str
    points: list[Point]


class Movie(TypedDict):
    title: str
    year: int


class Filters(TypedDict, total=False):
    genre: str
    min_year: int


# -- JSON Schema dicts --------------------------------------------------------------------------
ADDRESS_DEFS = {
    "$defs": {
        "Addr": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "country": {"type": "string", "maxLength": 2}},
            "required": ["city"],
        }
    },
    "type": "object",
    "properties": {"home": {"$ref": "#/$defs/Addr"}, "work": {"$ref": "#/$defs/Addr"}},
    "required": ["home"],
}

TREE_SCHEMA = {
    "$defs": {
        "node": {
            "type": "object",
            "properties": {"v": {"type": "integer"}, "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
            "required": ["v"],
            "additionalProperties": False,
        }
    },
    "$ref": "#/$defs/node",
}

#: 150 alternatives, ~1 500 characters: longer than a pattern the grammar writes out
LONG_PATTERN = "^(" + "|".join(f"code{i:03d}" for i in range(150)) + ")$"


def tree(depth: int, leaf: Any) -> Any:
    """A TREE_SCHEMA value ``depth`` nodes deep above ``leaf``."""
    node = leaf
    for i in range(depth):
        node = {"v": i, "kids": [node]}
    return node


CORPUS: list[Entry] = [
    # pydantic models
    Entry(
        "nested_models",
        Order,
        {"id": 7, "customer": {"name": "Ada", "address": {"street": "1 Main St", "city": "Oslo", "zip": "01234"}}},
        {"id": 7, "customer": {"name": "Ada", "address": {"street": "1 Main St", "zip": "01234"}}},
        # llama-cpp-python's converter writes ``\d`` into a literal llama.cpp cannot read: noted, left to validation
        notes=("pattern '^\\\\d{5}$' is not enforced",),
    ),
    Entry("optional_fields", Profile, {"name": "Ada", "nickname": None}, {"name": "Ada", "age": "old"}),
    Entry("literal_field", Ticket, {"title": "x", "priority": "high"}, {"title": "x", "priority": SECRET}, secret=True),
    Entry("enum_field", Paint, {"color": "green", "coats": 2}, {"color": SECRET, "coats": 2}, secret=True),
    Entry("int_enum_root", Level, 2, 7),
    Entry("list_of_models", list[Item], [{"sku": "a1", "qty": 1}, {"sku": "b2", "qty": 3}], [{"sku": "a1"}]),
    Entry("model_with_bounded_list", Cart, {"items": [{"sku": "a", "qty": 1}]}, {"items": []}),
    Entry("union_str_int", str | int, 5, None),
    Entry("union_models", Cat | Dog, {"kind": "dog", "good": True}, {"kind": "cow", "good": True}),
    Entry(
        "discriminated_union",
        Owner,
        {"pet": {"kind": "cat", "lives": 9}},
        {"pet": {"kind": SECRET, "lives": 9}},
        secret=True,
    ),
    Entry("string_lengths", Handle, {"handle": "ada_l"}, {"handle": SECRET}, secret=True),
    Entry("int_range", Person, {"name": "Ada", "age": 36}, {"name": "Ada", "age": 121}),
    Entry(
        "int_range_negative",
        Temperature,
        {"celsius": -40},
        {"celsius": -100},
        notes=("integer bounds are not enforced",),
        grammar_rejects=False,
    ),
    Entry("number_range", Score, {"confidence": 0.25}, {"confidence": 1.5}),
    Entry(
        "number_exclusive",
        Ratio,
        {"ratio": 0.5},
        {"ratio": 1.0},
        notes=("number bounds are not enforced",),
        grammar_rejects=False,
    ),
    Entry(
        "pattern_field",
        Code,
        {"code": "ABC-123"},
        {"code": SECRET},
        secret=True,
    ),
    Entry("list_bounds_root", Annotated[list[int], Field(min_length=2, max_length=4)], [1, 2, 3], [1]),
    Entry("annotated_exclusive_int", Annotated[int, Field(gt=0, lt=10)], 9, 10),
    Entry(
        "recursive_tree",
        Node,
        {"value": 1, "children": [{"value": 2, "children": [{"value": 3}]}]},
        {"value": 1, "children": [{"value": "two"}]},
        notes=("nested deeper than",),
    ),
    Entry("model_with_dict_field", Inventory, {"counts": {"apples": 3}, "tags": ["x"]}, {"counts": {"apples": "3x"}}),
    Entry(
        "pydantic_date_uuid",
        Dated,
        {"day": "2024-02-29", "ref": "123e4567-e89b-12d3-a456-426614174000"},
        {"day": "2024-13-01", "ref": "123e4567-e89b-12d3-a456-426614174000"},
    ),
    Entry(
        "string_min_length_only",
        Essay,
        {"text": "x" * 600},
        {"text": "too short"},
        grammar_rejects=True,
    ),
    # dataclasses and TypedDicts
    Entry("dataclass", Point, {"x": 1.5, "y": -2}, {"x": 1.5}),
    Entry(
        "nested_dataclass",
        Polygon,
        {"name": "tri", "points": [{"x": 0, "y": 0}, {"x": 1, "y": 0.5}]},
        {"name": "tri", "points": [{"x": 0, "y": "zero"}]},
    ),
    Entry("typeddict", Movie, {"title": "Heat", "year": 1995}, {"title": "Heat"}),
    Entry("typeddict_total_false", Filters, {"genre": "noir"}, {"min_year": "recent"}),
    # generics and plain types
    Entry("dict_str_int", dict[str, int], {"a": 1, "b": 2}, {"a": "one"}),
    Entry(
        "tuple_int_str",
        tuple[int, str],
        [1, "a"],
        ["a", 1],
        notes=("prefixItems followed by more items",),
        grammar_rejects=False,  # each item may be either type: a superset, noted
    ),
    Entry("list_int", list[int], [1, 2, 3], [1, "2x"]),
    Entry(
        "int",
        int,
        42,
        "forty-two",
    ),
    Entry("str", str, "hello", 5),
    Entry(
        "bool",
        bool,
        True,
        "maybe",
    ),
    Entry(
        "float",
        float,
        2.5,
        "abc",
    ),
    Entry(
        "str_long_root",
        Annotated[str, Field(max_length=1500)],
        "x" * 1200,
        "x" * 1501,
    ),
    Entry("literal_root_str", Literal["yes", "no"], "yes", SECRET, secret=True),
    Entry("literal_root_float", Literal[0.5, 1.5], 1.5, 2.5),
    Entry("optional_root", Optional[int], None, "none"),  # noqa: UP045 (typing.Optional, on purpose)
    Entry("list_of_literals", list[Literal["a", "b"]], ["a", "b", "a"], ["a", SECRET], secret=True),
    # JSON Schema dicts
    Entry("json_defs_ref", ADDRESS_DEFS, {"home": {"city": "Oslo", "country": "NO"}}, {"home": {"city": 1}}),
    # the grammar writes a recursive schema out to a depth, then allows any value: validation checks the rest
    Entry(
        "json_recursive_ref",
        TREE_SCHEMA,
        tree(3, {"v": 9}),
        tree(2, {"v": "nine"}),
        notes=("nested deeper than",),
        grammar_rejects=False,
    ),
    Entry(
        "json_anyof",
        {
            "anyOf": [
                {"type": "integer"},
                {"type": "object", "properties": {"k": {"type": "string"}}, "required": ["k"]},
            ]
        },
        {"k": "v"},
        "s",
    ),
    Entry("json_enum", {"enum": ["red", "green", 3, None]}, None, SECRET, secret=True),
    Entry(
        "json_const",
        {
            "type": "object",
            "properties": {"version": {"const": 2}, "name": {"type": "string"}},
            "required": ["version", "name"],
        },
        {"version": 2, "name": "x"},
        {"version": 3, "name": "x"},
    ),
    Entry(
        "json_allof",
        {
            "allOf": [
                {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
                {"properties": {"b": {"type": "string"}}, "required": ["b"]},
            ]
        },
        {"a": 1, "b": "x"},
        {"a": 1},
    ),
    Entry(
        "json_unique_items",
        {"type": "array", "items": {"type": "integer"}, "uniqueItems": True},
        [1, 2, 3],
        [1, 2, 1],
        notes=("uniqueItems is not enforced",),
        grammar_rejects=False,
    ),
    Entry(
        "json_not",
        {"type": "object", "properties": {"n": {"type": "integer", "not": {"const": 13}}}, "required": ["n"]},
        {"n": 12},
        {"n": 13},
        notes=("'not' is not enforced",),
        grammar_rejects=False,
    ),
    Entry(
        "json_long_pattern",
        {"type": "string", "pattern": LONG_PATTERN},
        "code042",
        SECRET,
        notes=("is not enforced",),
        grammar_rejects=False,  # any string up to the default bound
        secret=True,
    ),
    Entry(
        "json_formats",
        {
            "type": "object",
            "properties": {
                "day": {"type": "string", "format": "date"},
                "mail": {"type": "string", "format": "email"},
                "id": {"type": "string", "format": "uuid"},
            },
            "required": ["day", "mail", "id"],
        },
        {"day": "2024-02-29", "mail": "ada@example.com", "id": "123e4567-e89b-12d3-a456-426614174000"},
        {"day": "2024-13-01", "mail": "ada@example.com", "id": "123e4567-e89b-12d3-a456-426614174000"},
    ),
    Entry(
        "json_email_format_only",
        {"type": "object", "properties": {"mail": {"type": "string", "format": "email"}}, "required": ["mail"]},
        {"mail": "ada@example.com"},
        {"mail": SECRET},
        grammar_rejects=False,  # llama.cpp has no email rule: any bounded string
        secret=True,
    ),
    Entry(
        "json_type_list",
        {"type": ["string", "null"], "maxLength": 5},
        None,
        "toolong",
    ),
    Entry(
        "json_nested_arrays",
        {"type": "array", "items": {"type": "array", "items": {"type": "number"}, "minItems": 1}, "maxItems": 2},
        [[1, 2.5], [3]],
        [[1], []],
    ),
]

BY_NAME = {e.name: e for e in CORPUS}
assert len(BY_NAME) == len(CORPUS), "corpus names must be unique"
