"""Writing HeroScript: `call("email.send", to="ann@example.com", count=3)` gives
`!!email.send to:'ann@example.com' count:3`.

Quoting by hand is where HeroScript jobs go wrong (a `'` in a name, a comma, a newline), so this writes
each value the way the parser (parser.py, herolib's rules) reads it back, and checks that it does: the
text is parsed again and every param must come back as the text the schema converts to the value
given (str as is; bool true/false; numbers as Python writes them; lists as comma lists, which the
schema's list conversion splits again). Some texts
HeroScript cannot carry at all: a `"` (the parser turns it into `'`), spaces or tabs at either end
(trimmed), a carriage return, `<BR>` (a line break), the two characters `\\n` (a line break too), a
comma inside a list item. Such a value is a ValueError naming the param: send that job as JSON instead.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Sequence
from typing import Any

from heroagent.heroscript.parser import HeroScriptError, parse

ACTION_NAME = re.compile(r"[a-z0-9_]+\.[a-z0-9_]+")
PARAM_NAME = re.compile(r"[a-z0-9_]+")
PLAIN = re.compile(r"[A-Za-z0-9_.+-]+")


def call(action: str, /, **params: Any) -> str:
    """One HeroScript action calling `action` ("actor.name") with `params`; None values are left out.
    ValueError names a param whose value HeroScript cannot carry, or a bad name."""
    if not ACTION_NAME.fullmatch(action):
        raise ValueError(f"action {action!r}: write it as actor.name in lowercase letters, digits and _")
    words = [f"!!{action}"]
    for name, value in params.items():
        if value is None:
            continue
        if not PARAM_NAME.fullmatch(name) or name == "id":
            raise ValueError(f"param {name!r}: a name is lowercase letters, digits and _ (and not 'id')")
        text = as_text(name, value)
        word = f"{name}:{quoted(text)}"
        _check_round_trip(f"!!{action} {word}", name, text)
        words.append(word)
    return " ".join(words)


def as_text(name: str, value: Any) -> str:
    """The text a param's value is written as (what the action's schema converts back to the value)."""
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"param {name}: {value!r} is not a finite number")
        return repr(value)
    if isinstance(value, str):
        return value
    if isinstance(value, Sequence):
        items = [as_text(name, item) for item in value]
        if any("," in item or '"' in item or item != item.strip() for item in items):
            raise ValueError(
                f'param {name}: a list item with a comma, a " or spaces at an end cannot be written in HeroScript'
            )
        return ",".join(items)
    raise ValueError(f"param {name}: a {type(value).__name__} cannot be written in HeroScript; send a JSON job")


def quoted(text: str) -> str:
    """`text` as it is when it is one plain word (a number, true, a name), else in single quotes with a
    `'` escaped and a line break written as `\\\\n`."""
    if PLAIN.fullmatch(text):
        return text
    return "'" + text.replace("'", "\\'").replace("\n", "\\\\n") + "'"


def _check_round_trip(script: str, name: str, text: str) -> None:
    """The parser must read `text` back as param `name` of `script`; ValueError naming the param if not."""
    why = "a \", spaces or a tab at an end, a carriage return, <BR>, a \\ before a ' or at the end"
    try:
        text.encode("utf-8")
        got = parse(script)[0].params.get(name)
    except (HeroScriptError, UnicodeEncodeError):
        got = None
    if got != text:
        raise ValueError(f"param {name}: HeroScript cannot carry {text[:60]!r} ({why}); send a JSON job")
