"""An actor's signature is its job type's schema (jobs/run/signatures.py), and the values a call gets are
typed by it (enums and dataclasses made from their JSON form)."""

from __future__ import annotations

import dataclasses
import enum
from typing import Any, Literal, Optional, TypedDict

from heroagent.jobs.run.signatures import action_schema, actor_schemas, build, type_schema, typed_kwargs
from heroagent.schema.params import check_params


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclasses.dataclass
class Point:
    x: int
    y: int = 0


class Address(TypedDict):
    street: str
    number: int


class Mailer:
    def send(self, to: str, count: int = 1, urgent: bool = False, ctx: object = None) -> str:
        """Send a mail.

        More text that is not the summary."""
        return to

    def paint(self, color: Color, at: Point | None = None, mode: Literal["fast", "slow"] = "fast") -> str:
        return color.value

    def loose(self, anything, *words: str, **more: Any) -> None:  # type: ignore[no-untyped-def]
        return None

    def _private(self) -> None:
        return None


def test_the_signature_is_the_schema() -> None:
    assert action_schema(Mailer().send) == {
        "type": "object",
        "properties": {
            "to": {"type": "string"},
            "count": {"type": "integer", "default": 1},
            "urgent": {"type": "boolean", "default": False},
        },
        "required": ["to"],
        "additionalProperties": False,
        "description": "Send a mail.",
    }


def test_every_kind_of_hint() -> None:
    assert type_schema(Optional[int]) == {"anyOf": [{"type": "integer"}, {"type": "null"}]}  # noqa: UP045
    assert type_schema(float | str) == {"anyOf": [{"type": "number"}, {"type": "string"}]}
    assert type_schema(list[int]) == {"type": "array", "items": {"type": "integer"}}
    assert type_schema(tuple[str, ...]) == {"type": "array", "items": {"type": "string"}}
    assert type_schema(dict[str, bool]) == {"type": "object", "additionalProperties": {"type": "boolean"}}
    assert type_schema(Literal["a", 1]) == {"enum": ["a", 1]}
    assert type_schema(Color) == {"enum": ["red", "blue"], "title": "Color"}
    assert type_schema(Any) == {}
    assert type_schema(Point) == {
        "type": "object",
        "title": "Point",
        "properties": {"x": {"type": "integer"}, "y": {"type": "integer"}},
        "required": ["x"],
        "additionalProperties": False,
    }
    assert type_schema(Address)["required"] == ["number", "street"]


def test_an_actors_public_methods_are_its_actions_and_loose_ones_take_anything() -> None:
    schemas = actor_schemas(Mailer())
    assert sorted(schemas) == ["loose", "paint", "send"]
    loose = schemas["loose"]
    assert loose["properties"] == {"anything": {}} and loose["additionalProperties"] is True and loose["x-words"]


def test_values_arrive_typed_as_the_method_declares_them() -> None:
    method = Mailer().paint
    checked = check_params(action_schema(method), {"color": "blue", "at": '{"x": 3}'}, from_text=True)
    typed = typed_kwargs(method, checked)
    assert typed == {"color": Color.BLUE, "at": Point(3, 0)}
    assert build(list[Color], ["red"]) == [Color.RED]
    assert build(Point | None, None) is None
