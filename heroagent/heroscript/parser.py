"""HeroScript parsing by herolib's V parser's rules (core/playbook, data/paramsparser), as written down in
`shared/reference/heroscript.md`, rule by rule and in its processing order (the numbers below are the
reference's). Where the reference behaves in a way that looks like a bug, this parser chooses; each
choice is listed here and in the README, and pinned by a test (tests/heroscript/test_parser.py):

- Copied from V: blank lines inside a multi-line value are dropped, tabs become 4 spaces even inside
  values; `key:` with nothing after it takes the next token as its value (dropped at the very end);
  `key :v` gives an empty key "" and an arg `key`; a block opener must be the only param on its line;
  `desc:    '` (4+ spaces) is not an opener; a column-0 `//` or `'` line ends the action; argument
  de-duplication compares the lowercased candidate with the args as stored (`Foo foo Foo` gives `Foo,
  foo`); `--verbose`, `#` and other characters outside `A-Za-z0-9_,./` in keys and args are errors;
  `!!` gives actor `core` and name ""; `"..."` holding a `'`, or `'...'` holding a `"`, is an error.
- Different from V, deliberately:
  - `//` starts a trailing comment only at the start of a line or after a space, so an unquoted URL
    (`url:https://x/y next:1`) is kept whole instead of cut to `https:` with `next` lost; and a comment
    holding a `'` is a comment too (V switches to comment mode for the rest of the action).
  - A quote that is never closed is a syntax error naming the line and the quote character it was
    opened with (V swallows the rest of the action); so is a multi-line value never closed by a line
    holding only its quote (V lets the end of the action close it).
  - A job's action must have a name (`parse_job`): `!!` and `!!a.` are errors there (V: an empty name).
  - Comma lists: every item with a space is wrapped in double quotes, wherever it stands (V duplicates
    a quoted first item, `'a b', c` -> `a b,"a b",c`, and quotes a last one only at the end of the action).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

KEY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_,./")
KINDS = {1: "dal", 2: "sal", 3: "macro", 4: "wal"}
LINE_BREAK = re.compile(r"\r\n|\r|\n")
BLOCK_OPENER = re.compile(r"^(?P<key>\S*):(?P<gap> {0,3})(?P<quote>'''|')$")
LATE_OPENER = re.compile(r" \S*:( {0,3})('''|')$")
BLOCK_CLOSERS = frozenset({"'", '"', "'''", '"""'})


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
    """Rule 3: lowercase; drop everything from `#` on; `-` `;` `:` `.` and space become `_` unless the
    previous input character was `_`; a `_` after `_` is dropped; other non-alphanumerics are removed."""
    text = text.lower().split("#", 1)[0]
    out: list[str] = []
    previous = ""
    for char in text:
        if char.isascii() and char.isalnum():
            out.append(char)
        elif char in "-;:. _" and previous != "_":
            out.append("_")
        previous = char
    return "".join(out)


@dataclass
class _Line:
    number: int  # 1-based, in the text as given
    text: str


@dataclass
class _Pending:
    line: int
    bang: int
    name: str
    lines: list[_Line]
    comments: list[str]


def parse(text: str) -> list[Action]:
    """Parse a whole script into its actions, in order (text outside actions is ignored, rule 4)."""
    lines = _whole_text(text)
    actions: list[Action] = []
    pending: _Pending | None = None
    comments: list[str] = []
    for line in lines:
        stripped = line.text.strip()
        if stripped.startswith("!") and not stripped.startswith("!["):  # rule 2
            if pending is not None:
                actions.append(_build(pending, len(actions) + 1))
            bang = len(stripped) - len(stripped.lstrip("!"))
            if bang > 4:
                raise HeroScriptError(line.number, f"an action starts with 1 to 4 '!', not {bang}")
            head, _, rest = stripped.partition(" ")
            pending = _Pending(line.number, bang, head[bang:], [_Line(line.number, rest)], comments)
            comments = []
        elif pending is not None and line.text.startswith("  "):  # rule 4
            pending.lines.append(line)
        else:
            if pending is not None:
                actions.append(_build(pending, len(actions) + 1))
                pending = None
            if stripped.startswith("//"):
                comments.append(stripped[2:].strip())  # rule 10: comments of the next action
            else:
                comments = []  # text outside actions (markdown around a playbook): ignored
    if pending is not None:
        actions.append(_build(pending, len(actions) + 1))
    return actions


def parse_job(text: str) -> list[Action]:
    """`parse`, for a job or a schedule's params: text with no action in it (only prose, or an action
    line missing its `!!`) is an error here, as it would run nothing."""
    actions = parse(text)
    if not actions:
        raise _no_action()
    _named(actions)
    return actions


def _named(actions: Sequence[Action]) -> None:
    """A job's action must name what it calls: `!!` or `!!a.` (V: an empty name) calls nothing."""
    for action in actions:
        if not action.name or not action.actor:
            raise HeroScriptError(action.line, f"!!{action.full_name} names no action: write !!actor.action key:value")


# Scripts repeat (schedules, batches, the same job submitted per request): a short one is parsed once,
# for the creator (its job type) and the worker (its actions) alike. A long one is parsed each time:
# 512 texts of up to 16 MiB (a job's params limit) would be 8 GiB.
CACHED_TEXT_LIMIT = 4096


def parse_cached(text: str) -> tuple[Action, ...]:
    """`parse`, once per short text (a script that does not parse raises each time). The actions are
    shared by every caller: read them, never change them."""
    return _parse_short(text) if len(text) <= CACHED_TEXT_LIMIT else tuple(parse(text))


def parse_job_cached(text: str) -> tuple[Action, ...]:
    """`parse_job` through `parse_cached`."""
    actions = parse_cached(text)
    if not actions:
        raise _no_action()
    _named(actions)
    return actions


@functools.lru_cache(maxsize=512)
def _parse_short(text: str) -> tuple[Action, ...]:
    return tuple(parse(text))


def _no_action() -> HeroScriptError:
    return HeroScriptError(1, "no action found: a HeroScript job needs a line starting with !!actor.name")


def _whole_text(text: str) -> list[_Line]:
    """Rule 1: tabs to 4 spaces, lines split on any line break, blank lines dropped, dedented."""
    numbered = [
        _Line(n, raw) for n, raw in enumerate(LINE_BREAK.split(text.replace("\t", "    ")), start=1) if raw.strip()
    ]
    indent = min((len(x.text) - len(x.text.lstrip(" ")) for x in numbered), default=0)
    return [_Line(x.number, x.text[indent:]) for x in numbered]


def _build(pending: _Pending, number: int) -> Action:
    parts = pending.name.split(".")
    if len(parts) > 2:
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
    _Params(pending.lines, action).parse()
    action.params.pop("id", None)  # rule 9
    return action


class _Params:
    """Rules 5 to 9 for one action's params lines."""

    def __init__(self, lines: list[_Line], action: Action) -> None:
        self.lines = [line for line in lines if line.text.strip()]
        self.action = action
        self.text = ""  # the params as one line (rule 5), quotes made single
        self.line_at: list[int] = []  # the source line of each character of self.text
        self.comments: list[tuple[int, str]] = []  # (position in self.text where its line ends, comment)

    def parse(self) -> None:
        self._check_quotes()
        self._one_line()
        self._tokens()

    # ---------------------------------------------------------------- rule 5

    def _check_quotes(self) -> None:
        """A value opened with one quote character must not hold the other, and must be closed (an
        unclosed quote is an error here; V swallows the rest of the action)."""
        opened: tuple[str, int] | None = None
        for line in self.lines:
            text = line.text
            i = 0
            comment = self._comment_at(text) if opened is None else None
            if comment is not None:
                text = text[:comment]
            plain = text.replace('"', "'").strip()
            if opened is None and BLOCK_OPENER.match(plain):
                opened = ("block", line.number)
                continue
            if opened is None and LATE_OPENER.search(plain) and _unescaped_quotes(plain) % 2:
                raise HeroScriptError(
                    line.number, "a multi-line value (key:' at the end of a line) must be the only param on its line"
                )
            if opened is not None and opened[0] == "block":
                if text.strip() in BLOCK_CLOSERS:
                    opened = None
                continue
            if "'" not in text and '"' not in text:
                continue  # no quote opens or closes on this line
            while i < len(text):
                char = text[i]
                if char == "\\" and i + 1 < len(text):
                    i += 2
                    continue
                if char in "'\"":
                    if opened is None:
                        opened = (char, line.number)
                    elif char == opened[0]:
                        opened = None
                    else:
                        raise HeroScriptError(
                            line.number,
                            f"a value quoted with {opened[0]} holds a {char}; quote it with {char} instead, "
                            f"or escape it as \\{char}",
                        )
                i += 1
        if opened is not None and opened[0] == "block":  # V lets the end of the action close it: not here
            raise HeroScriptError(
                opened[1], "a multi-line value opened here is never closed: end it with a line holding only '"
            )
        if opened is not None:
            raise HeroScriptError(opened[1], f"a value opened with {opened[0]} is never closed")

    @staticmethod
    def _comment_at(text: str) -> int | None:
        """Where a trailing `//` comment starts in a line (None = none): at the line's start or after a
        space, and not inside a quoted value."""
        if "//" not in text:
            return None
        quote = ""
        for i, char in enumerate(text):
            if char in "'\"" and (i == 0 or text[i - 1] != "\\"):
                quote = "" if quote == char else (quote or char)
            elif not quote and text.startswith("//", i) and (i == 0 or text[i - 1] == " "):
                return i
        return None

    def _one_line(self) -> None:
        """Dedent, `"` to `'`, trim each line, cut trailing comments, fold multi-line blocks, join with
        one space."""
        parts: list[tuple[int, str]] = []
        block: tuple[_Line, str, str, list[_Line]] | None = None  # (opener line, key, quote, lines)
        for line in self.lines:
            raw = line.text  # each line is trimmed below and a block's lines dedented together: no dedent here
            if block is not None:
                if raw.strip().replace('"', "'") in BLOCK_CLOSERS:
                    parts.append(self._block(*block))
                    block = None
                else:
                    block[3].append(_Line(line.number, raw))
                continue
            text = raw.replace('"', "'").strip()
            if text.startswith("<!--"):
                continue  # an html comment line
            cut = self._comment_at(text)
            if cut is not None:
                comment, text = text[cut + 2 :].strip(), text[:cut].strip()
                if comment:
                    self.comments.append((line.number, comment))
            opener = BLOCK_OPENER.match(text)
            if opener:
                block = (line, opener["key"], opener["quote"], [])
                continue
            if text:
                parts.append((line.number, text))
        if block is not None:
            parts.append(self._block(*block))  # the end of the text closes a block
        for n, (number, text) in enumerate(parts):
            if n:
                self.text += " "
                self.line_at.append(number)
            self.text += text
            self.line_at += [number] * len(text)

    def _block(self, opener: _Line, key: str, quote: str, lines: list[_Line]) -> tuple[int, str]:
        indent = min((len(x.text) - len(x.text.lstrip(" ")) for x in lines), default=0)
        body = "\n".join(x.text[indent:].rstrip() for x in lines).replace("'", '"')
        return opener.number, f"{key}:'{body}'"

    # ---------------------------------------------------------------- rules 6 to 9

    def _tokens(self) -> None:
        text, i, n = self.text, 0, len(self.text)
        action = self.action
        line_keys: dict[int, str] = {}  # source line -> the last key set on it (for trailing comments)
        pending: tuple[str, int] | None = None  # `key:` with nothing after it: the next token is its value
        while i < n:
            if text[i] == " ":
                i += 1
                continue
            line = self.line_at[i]
            if pending is not None:
                value, i = self._value(i, line)
                key, key_line = pending
                action.params[key] = _normalise(value or "")
                line_keys[key_line] = key
                pending = None
                continue
            start = i
            while i < n and text[i] not in " ':":
                i += 1
            word = text[start:i]
            if i < n and text[i] == ":":  # rule 6: only the first `:` splits
                bad = [c for c in word if c not in KEY_CHARS]
                if bad:
                    raise HeroScriptError(line, f"character {bad[0]!r} in key {word!r}: keys use only A-Za-z0-9_,./")
                key = word.lower()
                value, i = self._value(i + 1, line)
                if value is None:
                    pending = (key, line)
                    continue
                action.params[key] = _normalise(value)
                line_keys[line] = key
                continue
            if i < n and text[i] == "'":
                raise HeroScriptError(line, f"a quoted value needs a key (key:'...'), got {text[start : i + 1]!r}...")
            bad = [c for c in word if c not in KEY_CHARS]
            if bad:
                raise HeroScriptError(line, f"character {bad[0]!r} in {word!r}: args use only A-Za-z0-9_,./")
            if word.lower() not in action.args:  # rule 9: the lowercased candidate against the args as stored
                action.args.append(word)
        for number, comment in self.comments:
            if number in line_keys:
                action.param_comments[line_keys[number]] = comment

    def _value(self, i: int, line: int) -> tuple[str | None, int]:
        """The value starting at `i`: quoted, unquoted, or a comma list (rule 7). None: nothing there."""
        text, n = self.text, len(self.text)
        items: list[tuple[str, bool]] = []  # (item, was quoted)
        while i < n and text[i] != " ":
            if text[i] == "'":
                end = i + 1
                while end < n and not (text[end] == "'" and text[end - 1] != "\\"):
                    end += 1
                if end >= n:
                    raise HeroScriptError(line, "a value opened with ' is never closed")
                items.append((text[i + 1 : end], True))
                i = end + 1
            else:
                start = i
                while i < n and text[i] not in " ,'":
                    i += 1
                items.append((text[start:i], False))
            after = i
            while after < n and text[after] == " ":
                after += 1
            if after < n and text[after] == ",":  # a comma (spaces around it removed) continues the list
                i = after + 1
                while i < n and text[i] == " ":
                    i += 1
                continue
            break
        if not items:
            return None, i
        if len(items) == 1:
            return items[0][0], i
        cleaned = [item.strip() for item, _ in items if item.strip()]
        return ",".join(f'"{x}"' if " " in x else x for x in cleaned), i


def _unescaped_quotes(text: str) -> int:
    return sum(1 for i, c in enumerate(text) if c == "'" and (i == 0 or text[i - 1] != "\\"))


def _normalise(value: str) -> str:
    """Rule 8: `\\\\n` and `<BR>` / `<<BR>>` become newlines, `\\'` a quote; then trimmed."""
    value = value.replace("\\\\n", "\n").replace("\\'", "'").replace("<<BR>>", "\n").replace("<BR>", "\n")
    return value.strip()
