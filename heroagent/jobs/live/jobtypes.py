"""Job types in Redis: every worker pool publishes the actors it serves, with their schemas and defaults.

A job type is an actor: its actions' param schemas (from its signature, jobs/run/signatures.py), the
defaults its jobs get (timeout, retries, priority, topic, ...), how it runs (isolation) and whether its
jobs can be suspended. Each pool (in the server or a `heroagent worker` on another machine) writes what
its registry holds at every heartbeat (`publish`); a creator in any process reads the union of the pools
that reported recently (`PublishedTypes`) and checks each new job against it (live/contract.py), and
the types' defaults apply to jobs created anywhere. `hero:jobtypes:known` keeps the last publication of
every type, so the API can show a type no live process serves any more as such.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import redis

from heroagent.jobs import keys

# {"actions": {name: schema}, "defaults": {...}, "isolation": ..., "suspendable": ...,
#  "handles": {topic: action}: the topics whose json jobs call one of its actions by default}
TypeInfo = dict[str, Any]

STALE_AFTER = 30.0  # seconds since a pool's last heartbeat after which its types no longer count
PUBLICATION_TTL = 90  # seconds a pool's publication lives without renewal
CACHE_SECONDS = 2.0  # how long a creator uses the types it read before it reads them again


def publish(client: redis.Redis, layout: keys.KeyLayout, publisher: str, types: Mapping[str, TypeInfo]) -> None:
    """Say that `publisher` (a pool id) serves these job types now (renews them: call it at every heartbeat)."""
    pipe = client.pipeline(transaction=False)
    # Not sorted: a schema keeps its params in the signature's order (positional words fill them in order).
    pipe.set(layout.jobtypes_of(publisher), json.dumps(types), ex=PUBLICATION_TTL)
    pipe.zadd(layout.JOBTYPES_LIVE, {publisher: int(time.time() * 1000)})
    if types:
        pipe.hset(layout.JOBTYPES_KNOWN, mapping={name: json.dumps(info) for name, info in types.items()})
    pipe.execute()


def withdraw(client: redis.Redis, layout: keys.KeyLayout, publisher: str) -> None:
    """`publisher` serves nothing any more (a pool that stops)."""
    pipe = client.pipeline(transaction=False)
    pipe.zrem(layout.JOBTYPES_LIVE, publisher)
    pipe.delete(layout.jobtypes_of(publisher))
    pipe.execute()


def read_live(client: redis.Redis, layout: keys.KeyLayout, stale_after: float = STALE_AFTER) -> dict[str, TypeInfo]:
    """The job types the pools that reported within `stale_after` seconds serve (the newest report of a
    type wins where two pools differ)."""
    since = int((time.time() - stale_after) * 1000)
    publishers: Any = client.zrangebyscore(layout.JOBTYPES_LIVE, since, "+inf")  # oldest first
    if not publishers:
        return {}
    payloads: Any = client.mget([layout.jobtypes_of(p.decode()) for p in publishers])
    found: dict[str, TypeInfo] = {}
    for payload in payloads:
        found.update(_types(payload))
    return found


def read_known(client: redis.Redis, layout: keys.KeyLayout) -> dict[str, TypeInfo]:
    """Every job type ever published, as last published."""
    raw: Any = client.hgetall(layout.JOBTYPES_KNOWN)
    found: dict[str, TypeInfo] = {}
    for name, payload in raw.items():
        try:
            found.update(_well_formed({name.decode(): json.loads(payload)}))
        except (ValueError, UnicodeDecodeError):
            continue
    return found


def _types(payload: bytes | None) -> dict[str, TypeInfo]:
    """A publication's types, keeping only well-formed entries (another process wrote it)."""
    if not payload:
        return {}
    try:
        given = json.loads(payload)
    except ValueError:
        return {}
    return _well_formed(given) if isinstance(given, dict) else {}


def _well_formed(given: Mapping[str, Any]) -> dict[str, TypeInfo]:
    return {
        str(name): info
        for name, info in given.items()
        if isinstance(info, dict)
        and isinstance(info.get("actions"), dict)
        and isinstance(info.get("defaults", {}), dict)
    }


@dataclass(frozen=True)
class Contract:
    """What a new job is checked against: the job types the live pools serve, and the topics whose jobs
    run outside HeroAgent (handed to external hero actors, `[hero] dispatch`: not HeroAgent's actors)."""

    types: Mapping[str, TypeInfo] = field(default_factory=dict)
    outside: frozenset[str] = frozenset()

    def handler_for(self, topic: str) -> str:
        """The action ("actor.action") a json job of `topic` calls when it names none ('' = no type handles
        the topic)."""
        for name, info in self.types.items():
            handles = info.get("handles")
            if isinstance(handles, dict):
                action = handles.get(topic)
                if isinstance(action, str) and action in info.get("actions", {}):
                    return f"{name}.{action}"
        return ""


class PublishedTypes:
    """A creator's view of the contract: read from Redis at most every CACHE_SECONDS (a create must not
    pay a round trip for it), with `local` types (the creating process's own registry, when it has
    one) over the published ones, so an actor registered a moment ago counts at once."""

    def __init__(
        self,
        client: redis.Redis,
        layout: keys.KeyLayout,
        local: Callable[[], Mapping[str, TypeInfo]] | None = None,
        cache_seconds: float = CACHE_SECONDS,
    ) -> None:
        self.client = client
        self.layout = layout
        self.local = local
        self.cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._read: Contract = Contract()
        self._read_at = -1e9
        self._merged: tuple[Contract, Mapping[str, TypeInfo] | None, Contract] | None = None

    def get(self) -> Contract:
        with self._lock:
            if time.monotonic() - self._read_at > self.cache_seconds:
                outside: Any = self.client.smembers(self.layout.HERO_DISPATCHED)
                self._read = Contract(read_live(self.client, self.layout), frozenset(t.decode() for t in outside))
                self._read_at = time.monotonic()
            read = self._read
        if self.local is None:
            return read
        local = self.local()  # the registry keeps one mapping per change: the merge is made once per change
        merged = self._merged
        if merged is not None and merged[0] is read and merged[1] is local:
            return merged[2]
        contract = Contract({**read.types, **local}, read.outside)
        self._merged = (read, local, contract)
        return contract
