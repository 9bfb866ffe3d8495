"""HeroScript parsing, following herolib's reference semantics (shared/reference/heroscript.md).

One deliberate difference: the reference skips any line that is neither an action, a comment nor an
indented params line. In a job that is nearly always a params line missing its two-space indent, so
here it is a syntax error that says so.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field

KEY_CHARS = re.compile(r"[A-Za-z0-9_,./]")
QUOTES = ("'", '"')
TRIPLE = ("'''", '"""')
KINDS = {1: "dal", 2: "sal", 3: "macro", 4: "wal"}


class HeroScriptError(ValueError):
    """A syntax error, with the line number and what was expected."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"HeroScript syntax error at line {line}: {message}")
        self.line = line


@dataclass
class Action:
    actor: str
    name: str
    params: dict[str, str] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)
    kind: str = "sal"
    line: int = 0
    number: int = 0
    comments: str = ""
    param_comments: dict[str, str] = field(default_factory=dict)

    @property
    def full_name(self) -> str:
        return f"{self.actor}.{self.name}"


def name_fix(text: str) -> str:
    """Lowercase; every non-alphanumeric character becomes '_' (the reference's name_fix)."""
    return re.sub(r"[^a-z0-9]", "_", text.lower())


@dataclass
class _Pending:
    line: int
    bang: int
    name: str
    lines: list[tuple[int, str]]
    comments: list[str]


def parse(text: str) -> list[Action]:
    """Parse a whole script into its actions, in order."""
    text = textwrap.dedent(text.replace("\t", "    "))
    actions: list[Action] = []
    pending: _Pending | None = None
    comments: list[str] = []
    open_quote: str | None = None  # a quote opened in the params of `pending` and not closed yet

    def flush() -> None:
        nonlocal pending
        if pending is not None:
            actions.append(_build(pending, len(actions) + 1))
            pending = None

    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if pending is not None and open_quote is not None:
            pending.lines.append((number, raw))
            open_quote = _scan_quotes(raw, open_quote)
            continue
        if not stripped:
            continue
        if stripped.startswith("!") and not stripped.startswith("!["):
            flush()
            bang = len(stripped) - len(stripped.lstrip("!"))
            if bang > 4:
                raise HeroScriptError(number, f"an action starts with 1 to 4 '!', not {bang}")
            head, _, rest = stripped[bang:].partition(" ")
            if not head:
                raise HeroScriptError(number, "expected an action name after '!' (like !!actor.name)")
            pending = _Pending(number, bang, head, [(number, rest)], comments)
            comments = []
            open_quote = _scan_quotes(rest, None)
            continue
        if pending is not None and raw.startswith("  "):
            pending.lines.append((number, raw))
            open_quote = _scan_quotes(raw, None)
            continue
        if stripped.startswith("//"):
            flush()
            comments.append(stripped[2:].strip())
            continue
        flush()
        raise HeroScriptError(
            number,
            f"expected an action (a line starting with '!', like !!actor.name) or a // comment, got {stripped!r}"
            " (params lines of an action must be indented by two spaces)",
        )
    if pending is not None and open_quote is not None:
        raise HeroScriptError(pending.lines[-1][0], f"a quoted value opened with {open_quote} is never closed")
    flush()
    return actions


def _scan_quotes(line: str, open_quote: str | None) -> str | None:
    """Track whether a quote is left open at the end of `line` (for multi-line values)."""
    i = 0
    while i < len(line):
        if open_quote is None:
            if line.startswith("//", i) and (i == 0 or line[i - 1].isspace()):
                return None
            for q in TRIPLE:
                if line.startswith(q, i):
                    open_quote = q
                    i += 3
                    break
            else:
                if line[i] in QUOTES:
                    open_quote = "'"
                i += 1
            continue
        if open_quote in TRIPLE:
            if line.startswith(open_quote, i):
                open_quote = None
                i += 3
                continue
        elif line[i] == "\\" and i + 1 < len(line):
            i += 2
            continue
        elif line[i] in QUOTES:
            open_quote = None
        i += 1
    return open_quote


def _build(pending: _Pending, number: int) -> Action:
    parts = pending.name.split(".")
    if len(parts) > 2 or not all(parts):
        raise HeroScriptError(pending.line, f"expected an action name 'actor.name' or 'name', got {pending.name!r}")
    actor, name = (parts[0], parts[1]) if len(parts) == 2 else ("core", parts[0])
    action = Action(
        actor=name_fix(actor),
        name=name_fix(name),
        kind=KINDS[pending.bang],
        line=pending.line,
        number=number,
        comments="\n".join(pending.comments),
    )
    _parse_params(pending.lines, action)
    action.params.pop("id", None)
    return action


def _parse_params(lines: list[tuple[int, str]], action: Action) -> None:
    text = "\n".join(line for _, line in lines)
    line_of = [n for n, line in lines for _ in range(len(line) + 1)]
    p = _ParamsParser(text, line_of, action)
    p.run()


class _ParamsParser:
    def __init__(self, text: str, line_of: list[int], action: Action) -> None:
        self.text = text
        self.i = 0
        self.line_of = line_of
        self.action = action
        self.last_key: str | None = None
        self.last_key_line = 0

    def line(self) -> int:
        return self.line_of[min(self.i, len(self.line_of) - 1)] if self.line_of else self.action.line

    def run(self) -> None:
        text = self.text
        while True:
            self._skip(" \t\n")
            if self.i >= len(text):
                return
            if text.startswith("//", self.i):
                end = text.find("\n", self.i)
                end = len(text) if end < 0 else end
                comment = text[self.i + 2 : end].strip()
                if self.last_key and self.last_key_line == self.line() and "'" not in comment:
                    self.action.param_comments[self.last_key] = comment
                self.i = end
                continue
            start_line = self.line()
            if text[self.i] in QUOTES:
                self.action.args.append(self._value())
                continue
            start = self.i
            while self.i < len(text) and not text[self.i].isspace() and text[self.i] != ":":
                self.i += 1
            word = text[start : self.i]
            if self.i < len(text) and text[self.i] == ":":
                bad = [c for c in word if not KEY_CHARS.match(c)]
                if not word or bad:
                    shown = f"character {bad[0]!r} in key {word!r}" if bad else "an empty key before ':'"
                    raise HeroScriptError(
                        start_line, f"expected a param key of letters, digits, _ , . or /; got {shown}"
                    )
                self.i += 1
                while self.i < len(text) and text[self.i] in " \t":
                    self.i += 1
                key = word.lower()
                self.action.params[key] = self._value()
                self.last_key, self.last_key_line = key, start_line
            else:
                self.action.args.append(_clean(word))

    def _skip(self, chars: str) -> None:
        while self.i < len(self.text) and self.text[self.i] in chars:
            self.i += 1

    def _value(self) -> str:
        items = [self._item()]
        while True:
            save = self.i
            self._skip(" \t")
            if self.i < len(self.text) and self.text[self.i] == ",":
                self.i += 1
                self._skip(" \t")
                items.append(self._item())
                continue
            if items[-1].endswith(",") and self.i < len(self.text) and not self.text[self.i].isspace():
                items[-1] = items[-1][:-1]
                items.append(self._item())
                continue
            self.i = save
            break
        if len(items) == 1:
            return items[0]
        parts = [item.strip().rstrip(",") for item in items]
        return ",".join(f"'{x}'" if " " in x else x for x in parts if x)

    def _item(self) -> str:
        text = self.text
        if self.i >= len(text) or text[self.i] == "\n":
            return ""
        for q in TRIPLE:
            if text.startswith(q, self.i):
                end = text.find(q, self.i + 3)
                if end < 0:
                    raise HeroScriptError(self.line(), f"expected a closing {q}")
                raw = text[self.i + 3 : end]
                self.i = end + 3
                return _multiline(raw)
        if text[self.i] in QUOTES:
            start_line = self.line()
            self.i += 1
            out = []
            while self.i < len(text):
                c = text[self.i]
                if c == "\\" and self.i + 1 < len(text) and text[self.i + 1] in QUOTES:
                    out.append(text[self.i + 1])
                    self.i += 2
                    continue
                if c in QUOTES:
                    self.i += 1
                    raw = "".join(out)
                    return _multiline(raw) if "\n" in raw else _clean(raw)
                out.append(c)
                self.i += 1
            raise HeroScriptError(start_line, "expected a closing quote for a value opened here")
        start = self.i
        while self.i < len(text) and not text[self.i].isspace():
            self.i += 1
        return _clean(text[start : self.i])


def _clean(value: str) -> str:
    return value.replace("<<BR>>", "\n").replace("<BR>", "\n").strip()


def _multiline(raw: str) -> str:
    lines = raw.split("\n")
    if lines and not lines[0].strip():
        lines = lines[1:]
    body = textwrap.dedent("\n".join(line for line in lines if line.strip()))
    return _clean(body)
