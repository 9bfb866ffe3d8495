"""The rule of a key prefix (`[redis] key_prefix`, `heroagent worker --key-prefix`, `JobClient(key_prefix=)`):
what a HeroAgent puts in front of every Redis key it uses, so several of them (and other programs) share one
Redis without touching each other's keys.

A prefix is one or more parts, each ending with ':' ("team-a:", "prod:agent1:"): letters, digits, '_', '.'
and '-', at most 64 characters in all. Why so strict:

- the ':' at the end keeps the prefix apart from the key (`a:hero:events`, never `ahero:events`), and the
  Redis ACL patterns a prefix is meant for (`~a:*`, `&a:*`) then match its keys and no other program's;
- no glob characters (`*?[]\\`), so the prefix is a literal in SCAN patterns and ACL rules alike, and no
  spaces, quotes or control characters, so it can be written into an ACL line or a shell command as it is;
- no part starts with "hero": every key of a layout starts with its prefix followed by "hero", so two
  prefixes where one is the other plus a part starting with "hero" would share keys (and the unprefixed
  layout's SCAN of `herojobs:*` would walk a "herojobs:" prefix's keys). With this rule no two layouts'
  keys can be the same.
"""

from __future__ import annotations

import re

MAX_LENGTH = 64
PATTERN = re.compile(r"(?:[A-Za-z0-9_.-]+:)+")
EXAMPLE = '"team-a:"'


def key_prefix_problem(prefix: str) -> str:
    """What is wrong with `prefix` as a key prefix, in words with the fix ('' = nothing: it may be used;
    the empty prefix is the unprefixed layout of every HeroAgent before key prefixes)."""
    if prefix == "":
        return ""
    if len(prefix) > MAX_LENGTH:
        return f"must be at most {MAX_LENGTH} characters (it is {len(prefix)}), e.g. {EXAMPLE}"
    if not PATTERN.fullmatch(prefix):
        fixed = prefix + ":"
        if PATTERN.fullmatch(fixed):
            return f"must end with ':' (e.g. {fixed!r}), so the ACL pattern ~{fixed}* matches only its keys"
        return (
            "may only hold letters, digits, '_', '.', '-' and ':' (each part ending with ':'; no spaces, quotes, "
            f"glob characters or empty parts), e.g. {EXAMPLE}"
        )
    if any(part.lower().startswith("hero") for part in prefix.split(":")):
        return (
            "no part of it may start with 'hero' (HeroAgent's own keys do, so such a prefix could share keys with "
            f"another layout's): use e.g. {EXAMPLE}"
        )
    return ""
