"""A Redis Cluster, reached as the primary that holds one hash slot: HeroAgent's (`[redis] cluster = true`).

Why this shape: with `cluster = true` every key of a HeroAgent carries one hash tag (`{<key_prefix>hero}`,
keys.KeyLayout), so all of them live in one slot, on one primary, and every script, MULTI, multi-key BLPOP
and pub/sub of the job system works there exactly as on a single Redis: no CROSSSLOT can happen. The client
is then a plain `redis.Redis` whose connections ask the cluster which node serves that slot each time they
connect, as a Sentinel pool asks the sentinels where the master is. After a failover, a connection to the
old primary fails (refused, or answered MOVED, READONLY, CLUSTERDOWN, "non local key"): it is dropped, the
answer forgotten, and the retry (redis-py's, or the caller's loop) asks the cluster again and finds the
replica it promoted. Several HeroAgents (key prefixes) on one cluster hash to different slots, so they spread
over its primaries; one HeroAgent's jobs use one primary (docs/architecture.md, "Redis Cluster", says how far
that goes).

The node list starts with the URL's node and grows with every node the cluster names, so the slot is found
again when the first node is the one that died.
"""

from __future__ import annotations

import threading
from typing import Any

import redis
from redis.connection import Connection, SSLConnection, parse_url
from redis.crc import key_slot

PROBE_TIMEOUT = 2.0  # seconds one node may take to say who serves the slot before the next is asked

# Error replies that mean "this node does not serve the slot (now)": the command did not run here. A cluster
# that lost a primary answers CLUSTERDOWN on every node until the replica is promoted: to us, Redis is away
# for that moment. redis-py 6 and later parse them into these classes (and drop the code from the text);
# 5.x, on a plain connection, gives a ResponseError whose text starts with the code: both are looked for.
_ELSEWHERE_ERRORS = (
    redis.exceptions.AskError,  # MOVED too (MovedError is one)
    redis.exceptions.ClusterDownError,
    redis.exceptions.TryAgainError,
    redis.exceptions.MasterDownError,
    redis.exceptions.ReadOnlyError,
)
_ELSEWHERE = ("MOVED ", "ASK ", "CLUSTERDOWN", "TRYAGAIN", "MASTERDOWN", "READONLY")
_NON_LOCAL = "non local key"  # a script touched a key of a slot this node no longer serves


class NotAClusterError(redis.ConnectionError):
    """The node given is a Redis without cluster support: `[redis] cluster = true` is wrong for it."""


class SlotNotServedError(redis.ConnectionError):
    """No node said which primary serves the slot (none answered, or none serves it: a failover under way)."""


def slot_of(tag: str) -> int:
    """The hash slot of every key that carries `{tag}`."""
    return int(key_slot(tag.encode()))


class SlotLocator:
    """Which node serves one slot: asked of the cluster's nodes (CLUSTER SLOTS), kept until a connection
    finds it wrong."""

    def __init__(self, seeds: list[tuple[str, int]], slot: int, probe_options: dict[str, Any]) -> None:
        self.slot = slot
        self._nodes = list(dict.fromkeys(seeds))
        self._probe_options = probe_options
        self._owner: tuple[str, int] | None = None
        self._lock = threading.Lock()

    def owner(self) -> tuple[str, int]:
        """(host, port) of the primary serving the slot: the one known, or asked anew."""
        with self._lock:
            if self._owner is None:
                self._owner = self._ask()
            return self._owner

    def forget(self) -> None:
        """The owner known is wrong (it died, or gave the slot away): the next connection asks again."""
        with self._lock:
            self._owner = None

    def _ask(self) -> tuple[str, int]:
        failures: list[str] = []
        for host, port in list(self._nodes):
            probe = redis.Redis(
                host=host,
                port=port,
                socket_timeout=PROBE_TIMEOUT,
                socket_connect_timeout=PROBE_TIMEOUT,
                **self._probe_options,
            )
            try:
                ranges: Any = probe.execute_command("CLUSTER SLOTS")  # type: ignore[no-untyped-call]
            except redis.ResponseError as exc:
                if "cluster support disabled" in str(exc).lower():
                    raise NotAClusterError(
                        f"{host}:{port} is a Redis without cluster support: set [redis] cluster = false, "
                        "or give the URL of a node of the cluster"
                    ) from None
                failures.append(f"{host}:{port}: {exc}")
                continue
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                failures.append(f"{host}:{port}: {exc}")
                continue
            finally:
                probe.close()
            found = self._read(ranges, host)
            if found is not None:
                return found
            failures.append(f"{host}:{port}: no node serves slot {self.slot} (CLUSTERDOWN: a failover under way?)")
        raise SlotNotServedError(
            f"no node of the Redis Cluster says who serves slot {self.slot}: {'; '.join(failures)[:600]}"
        )

    def _read(self, ranges: Any, asked: str) -> tuple[str, int] | None:
        """The primary of the slot in a CLUSTER SLOTS answer; every node it names is remembered."""
        owner = None
        for entry in ranges:
            start, end, primary, *replicas = entry
            for node in (primary, *replicas):
                address = (_text(node[0]) or asked, int(node[1]))
                if address not in self._nodes:
                    self._nodes.append(address)
            if int(start) <= self.slot <= int(end):
                owner = (_text(primary[0]) or asked, int(primary[1]))
        return owner


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class _SlotConnectionMixin:
    """A connection that connects to whichever node serves the slot now, and lets go of one that does not."""

    locator: SlotLocator
    host: str
    port: int

    def connect(self) -> None:
        if getattr(self, "_sock", None) is not None:
            return
        tried = self.locator.owner()
        try:
            self._connect_to(tried)
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            # the owner known may be the one that died: ask the cluster, and go to the one it names now
            self.locator.forget()
            now = self.locator.owner()
            if now == tried:
                self.locator.forget()
                raise
            self._connect_to(now)

    def _connect_to(self, address: tuple[str, int]) -> None:
        self.host, self.port = address
        try:
            super().connect()  # type: ignore[misc]
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            self.locator.forget()
            raise

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().read_response(*args, **kwargs)  # type: ignore[misc]
        except redis.ResponseError as exc:
            text = str(exc)
            if isinstance(exc, _ELSEWHERE_ERRORS) or text.startswith(_ELSEWHERE) or _NON_LOCAL in text:
                self.disconnect()  # type: ignore[attr-defined]
                self.locator.forget()
                raise redis.ConnectionError(
                    f"the Redis Cluster node no longer serves this HeroAgent's slot ({text[:120]})"
                ) from exc
            raise


class SlotConnection(_SlotConnectionMixin, Connection):
    def __init__(self, *, locator: SlotLocator, **kwargs: Any) -> None:
        self.locator = locator
        super().__init__(**kwargs)  # type: ignore[no-untyped-call]


class SlotSSLConnection(_SlotConnectionMixin, SSLConnection):
    def __init__(self, *, locator: SlotLocator, **kwargs: Any) -> None:
        self.locator = locator
        super().__init__(**kwargs)


# The options a probe (a CLUSTER SLOTS question) shares with the connections: who we are and how TLS goes.
_PROBE_KEYS = (
    "username",
    "password",
    "ssl_ca_certs",
    "ssl_certfile",
    "ssl_keyfile",
    "ssl_cert_reqs",
    "ssl_check_hostname",
)


def slot_client(url: str, tag: str, **options: Any) -> redis.Redis:
    """A client of the primary serving `{tag}`'s slot in the cluster `url` is a node of (`options`: redis-py's
    client options, and the auth and TLS ones, as `redis.Redis.from_url` takes them; the url's own win)."""
    settings: dict[str, Any] = {**options, **parse_url(url)}  # type: ignore[no-untyped-call]
    if int(settings.pop("db", 0) or 0) != 0:
        raise redis.ConnectionError("a Redis Cluster has only database 0: drop the /<db> from [redis] url")
    ssl = settings.pop("connection_class", Connection) is SSLConnection
    probe_options = {key: settings[key] for key in _PROBE_KEYS if key in settings}
    if ssl:
        probe_options["ssl"] = True
    seeds = [(str(settings.get("host", "127.0.0.1")), int(settings.get("port", 6379)))]
    settings["locator"] = SlotLocator(seeds, slot_of(tag), probe_options)
    settings["connection_class"] = SlotSSLConnection if ssl else SlotConnection
    pool = redis.ConnectionPool(**settings)
    client = redis.Redis(connection_pool=pool)
    client.auto_close_connection_pool = True
    return client


def cluster_problem(client: redis.Redis, cluster: bool) -> str:
    """What is wrong with a Redis reached with `[redis] cluster = <cluster>` ("" : nothing seen): a node of a
    cluster used as a single Redis would answer MOVED for most keys, at random moments. (A cluster setting
    given a plain Redis is found when the slot is looked up: NotAClusterError.)"""
    if cluster:
        return ""
    try:
        client.execute_command("CLUSTER INFO")  # type: ignore[no-untyped-call]
    except redis.ResponseError:
        return ""  # "cluster support disabled" (a single Redis), or not allowed to ask (NOPERM): go on
    return (
        "this Redis is a node of a Redis Cluster: set [redis] cluster = true (HEROAGENT_REDIS_CLUSTER=true), "
        "so that every key HeroAgent uses lands in one hash slot"
    )
