"""How a job's values (params, result, error) are shown on its page: text as text with its line breaks, JSON as
a tree whose every object and array folds (<details>/<summary>, rendered here: no script, no library), and
never more than PAGE_VALUE_LIMIT of either, so a 10 MB result costs the page 64 KiB; the whole value is a
download (web/value_pages.py).

The tree is HTML built from escaped parts (markupsafe), with a budget of nodes and a depth past which a part
is shown as compact JSON text, so a hostile value (deep, wide) cannot make a page that a browser chokes on.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from heroagent.jobs.model import Job

PAGE_VALUE_LIMIT = 64 * 1024  # bytes of a value a page shows; the download has all of it
MAX_NODES = 5000  # values a tree shows before it says how many more the download holds
MAX_DEPTH = 40  # levels a tree nests before a part is shown as JSON text
OPEN_DEPTH = 2  # levels shown open; deeper ones start folded
WHAT = ("params", "result", "error")  # the values a job has, each a download


def head(text: str, limit: int = PAGE_VALUE_LIMIT) -> tuple[str, int]:
    """The first `limit` bytes of `text` (whole characters), and how many characters are left out (0 = none).
    Only the start is encoded: a 10 MB text costs what its head does."""
    if len(text) * 4 <= limit:  # no text of this many characters has more bytes
        return text, 0
    start = text[:limit]
    encoded = start.encode("utf-8", errors="surrogatepass")
    if len(encoded) > limit:
        start = encoded[:limit].decode("utf-8", errors="ignore")
    return start, len(text) - len(start)


def string_head(text: str, limit: int = PAGE_VALUE_LIMIT) -> tuple[str, int] | None:
    """The text a JSON string holds, at most `limit` bytes of it, and how many characters of the JSON are left
    out; None when `text` is no JSON string. A HeroScript job's result is a list of what each action returned:
    from a list that starts with a string, that first string is taken. Only the JSON's start is decoded: a
    cut inside an escape (`\\u12`) moves back to before it."""
    stripped = text.strip()
    listed = re.match(r"\[\s*", stripped) if stripped.startswith("[") else None
    body = stripped[listed.end() :] if listed else stripped
    if not body.startswith('"'):
        return None
    if not listed and len(body) <= limit:
        try:
            whole = json.loads(body)
        except ValueError:
            return None
        return head(whole, limit) if isinstance(whole, str) else None
    window = body[: limit + 1]
    for back in range(14):  # the longest escape, a surrogate pair, is 12 characters; a list's string ends '"]'
        piece = window[: len(window) - back]
        try:
            start = json.loads(piece + '"')
        except ValueError:
            continue
        shown, _ = head(start, limit)
        return shown, len(stripped) - len(piece) - (listed.end() if listed else 0)
    return None


@dataclass(frozen=True)
class ValueView:
    """One value as the page shows it: its head as text, or its tree; whether it was cut; its size."""

    name: str  # params, result or error: the element's id and the download's name
    text: str  # what a <pre> shows when there is no tree (the head)
    tree: Markup | None
    left_out: int  # characters not shown
    characters: int

    @classmethod
    def of(cls, name: str, value: str, as_json: bool) -> ValueView:
        """A JSON object or array as a tree, a JSON string as the text it holds (a program's output with its
        line breaks, not one line of escapes), anything else as it is; each at most PAGE_VALUE_LIMIT."""
        shown, left_out = head(value)
        if not as_json:
            return cls(name, shown, None, left_out, len(value))
        held = string_head(value) if left_out or value.lstrip().startswith('"') else None
        if held is not None:
            return cls(name, held[0], None, held[1], len(value))
        return cls(name, shown, json_tree(value) if not left_out else None, left_out, len(value))


def job_values(job: Job) -> dict[str, ValueView]:
    """The job's params, result and error (those it has) as its page shows them."""
    views = {"params": ValueView.of("params", job.params, job.params_type.value in ("json", "openrpc"))}
    if job.result_text:
        views["result"] = ValueView.of("result", job.result_text, job.result_is_json)
    if job.error:
        views["error"] = ValueView.of("error", job.error, False)
    return views


def json_tree(text: str) -> Markup | None:
    """`text` as a tree of folding objects and arrays, or None when it is no JSON object or array (then it is
    shown as text)."""
    stripped = text.strip()
    if stripped[:1] not in ("{", "["):
        return None
    try:
        return _Tree().node(json.loads(stripped), 0)
    except (ValueError, RecursionError):  # not JSON, or nested past what the parser or encoder takes
        return None


class _Tree:
    """One rendering: the nodes it may still show."""

    def __init__(self) -> None:
        self.budget = MAX_NODES

    def node(self, value: Any, depth: int) -> Markup:
        self.budget -= 1
        if isinstance(value, dict):
            items = [(Markup('<span class="json-key">{}</span>: ').format(_quoted(k)), v) for k, v in value.items()]
            return self._folder(items, "{", "}", f"{len(value)} key{'s' if len(value) != 1 else ''}", value, depth)
        if isinstance(value, list):
            items = [(Markup(""), v) for v in value]
            return self._folder(items, "[", "]", f"{len(value)} item{'s' if len(value) != 1 else ''}", value, depth)
        return _scalar(value)

    def _folder(
        self, items: list[tuple[Markup, Any]], opener: str, closer: str, count: str, value: Any, depth: int
    ) -> Markup:
        if not items:
            return Markup('<span class="json-punct">{}{}</span>').format(opener, closer)
        if depth >= MAX_DEPTH:
            return Markup('<span class="json-deep">{}</span>').format(json.dumps(value, ensure_ascii=False))
        members: list[Markup] = []
        for shown, (key, item) in enumerate(items):
            if self.budget <= 0:
                members.append(
                    Markup('<li class="json-more">… {} more (the download has them)</li>').format(len(items) - shown)
                )
                break
            members.append(Markup("<li>{}{}</li>").format(key, self.node(item, depth + 1)))
        return Markup(
            '<details class="json-fold"{}><summary data-close="{}"><span class="json-punct">{}</span>'
            ' <span class="json-count">{}</span></summary><ul>{}</ul><span class="json-punct">{}</span></details>'
        ).format(Markup(" open") if depth < OPEN_DEPTH else "", closer, opener, count, Markup("").join(members), closer)


def _quoted(key: str) -> str:
    return json.dumps(key, ensure_ascii=False)


def _scalar(value: Any) -> Markup:
    """A string, number, true, false or null; a string with line breaks as its lines (a text inside JSON)."""
    if isinstance(value, str):
        if "\n" in value:
            return Markup('<span class="json-str json-lines">{}</span>').format(value)
        return Markup('<span class="json-str">{}</span>').format(_quoted(value))
    if value is None or isinstance(value, bool):
        return Markup('<span class="json-lit">{}</span>').format(json.dumps(value))
    return Markup('<span class="json-num">{}</span>').format(json.dumps(value))
