"""The schedule form (Add and Edit), generated from a schedule's one description, schema/schedule.py SCHEDULE.

Its fields are the schema's, in the schema's order, each with the control `forms.control` picks; what a user
typed is read by `forms.read`, checked field by field (`SCHEDULE.errors`), then handed to the same operations
the JSON API and the CLI use (`Schedules.add_from`, `Schedules.replace`). Their error is shown beside the field
it names, so a bad edit is a form with its problem, never a 500.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from heroagent.errors import InvalidInputError
from heroagent.schedules.book import ScheduleInfo
from heroagent.schema.fields import Field
from heroagent.schema.schedule import SCHEDULE, Schedule
from heroagent.web import forms

FIRST = ("name", "topic", "params_type", "params", "action", "cron", "every")  # shown open; the rest folded
NOT_EDITED = ("name", "enabled")  # an edit keeps the name (the page's address) and the paused state (its buttons)
# What a Schedule holds for "not given" (the job's default): shown as an empty field, so the form says "default".
_UNSET = {f.name: f.default for f in dataclasses.fields(Schedule) if f.default is not dataclasses.MISSING}


@dataclass
class ScheduleForm:
    """One Add or Edit form: its fields, what it shows, and each field's problem ('form': none in particular)."""

    editing: str = ""  # the schedule's name when editing, '' when adding
    shown: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def fields(self) -> list[Field]:
        return [f for f in SCHEDULE.fields if not (self.editing and f.name in NOT_EDITED)]

    @property
    def first_fields(self) -> list[Field]:
        return [f for f in self.fields if f.name in FIRST]

    @property
    def more_fields(self) -> list[Field]:
        return [f for f in self.fields if f.name not in FIRST]

    @property
    def more_open(self) -> bool:
        """Whether the folded fields are shown: one of them has a problem."""
        return any(f.name in self.errors for f in self.more_fields)

    @classmethod
    def blank(cls) -> ScheduleForm:
        """Add: every field at its default (enabled ticked, as a new schedule runs unless paused)."""
        shown = {f.name: (f.default is not False) if f.kind == "boolean" else "" for f in SCHEDULE.fields}
        return cls(shown=shown)

    @classmethod
    def of(cls, info: ScheduleInfo) -> ScheduleForm:
        """Edit: the form filled with the schedule's description as it is now."""
        described = info.schedule.to_dict()
        shown = {f.name: _text(f, described.get(f.name)) for f in SCHEDULE.fields}
        return cls(editing=info.schedule.name, shown=shown)

    def submit(self, posted: Mapping[str, str], operation: Callable[[dict[str, Any]], ScheduleInfo]) -> bool:
        """Read the posted form and, when every field is fine, hand its values to `operation` (add or replace);
        False with `errors` set when the schedule was refused."""
        values, shown, errors = forms.read(self.fields, posted)
        self.shown.update(shown)
        errors.update({k: v for k, v in SCHEDULE.errors(values).items() if k not in errors and k in shown})
        self.errors = errors
        if errors:
            return False
        try:
            operation(values)
        except InvalidInputError as exc:  # ScheduleError and the job's rules: the field they name
            name, message = forms.error_field(str(exc), [f.name for f in self.fields])
            self.errors[name or "form"] = message
            return False
        return True


def _text(f: Field, value: Any) -> Any:
    """A described value as its field shows it: a box ticked or not, '' for "the default", numbers unpadded."""
    if f.kind == "boolean":
        return bool(value)
    if value is None or (f.name in _UNSET and value == _UNSET[f.name] and f.kind != "string"):
        return ""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)
