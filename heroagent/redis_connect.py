"""How a process reaches the appliance's Redis, and how it talks to it: kept apart from the server.

Everything here is what a client needs (`JobClient`, `heroagent job ...`, a remote `heroagent worker`,
the server's own connections): the URL of the embedded Redis from this machine (`redis_url_for`), its
password (`embedded_password`), the options of calls someone waits on (`request_options`) and the
check that Redis answers (`answers`). The embedded Redis's supervisor (`heroagent.redis_server`) is not
imported, so a client does not load it.

The embedded Redis's password: `[redis] password` if set, else one generated at the first start.
Redis on loopback is still reachable by every local user, and `CONFIG SET dir` + `SAVE` would let any
of them write files as the server's user, so the embedded Redis always has a password. The generated
one lives in `<data_dir>/redis/password` (mode 600, in a mode 700 folder): every local client given
the config (`heroagent job`, `heroagent worker`) reads it there, and so can `redis-cli`:
`redis-cli -a "$(cat <data_dir>/redis/password)"`. It is never printed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import MasterNotFoundError, Sentinel

from heroagent.config import Config
from heroagent.redaction import redacted

log = logging.getLogger("heroagent.redis")

REQUEST_TIMEOUT = 2.0  # seconds a Redis call on a request path may take before it is a 503


def request_options() -> dict[str, object]:
    """Client options for calls someone waits on (API, pages, health, the manager's loops): give up after
    REQUEST_TIMEOUT, once. redis-py's default retries a timed-out call three times with backoff, which
    made a stalled Redis hang health for 26 s."""
    return {
        "socket_timeout": REQUEST_TIMEOUT,
        "socket_connect_timeout": REQUEST_TIMEOUT,
        "retry": Retry(NoBackoff(), 0),
    }


# Errors that say Redis is away (down, restarting, stalled, loading its data), not that a call was wrong.
REDIS_AWAY: tuple[type[BaseException], ...] = (redis.ConnectionError, redis.TimeoutError)

# Seconds a stop without Redis (it did not answer) waits for a thread that may wait on Redis: one that can
# end does within it; one that cannot is a daemon, and ends when its call does.
NO_ANSWER_JOIN = 1.0


def answers(client: redis.Redis, timeout: float = REQUEST_TIMEOUT) -> bool:
    """Whether the Redis behind `client` answers a PING within `timeout`, asked on a connection of its
    own: the client's connections may wait in a call with no timeout (a BLPOP) behind a stalled server.
    A stop asks this once and, if not, stops without Redis instead of hanging in its first call to it."""
    pool = client.connection_pool
    probe = pool.connection_class(
        **{**pool.connection_kwargs, **request_options(), "socket_timeout": timeout, "socket_connect_timeout": timeout}
    )
    try:
        probe.connect()  # a Sentinel's connection asks the sentinels where the master is here
        probe.send_command("PING")
        return bool(probe.read_response())
    except (redis.RedisError, OSError):
        return False
    finally:
        probe.disconnect()


FILE_NAME = "password"


def password_path(config: Config) -> Path:
    return config.redis_dir / FILE_NAME


def embedded_password(config: Config, *, create: bool) -> str | None:
    """The password of the embedded Redis of `config`; `create` (the server, at its start) makes one if
    there is none yet, and replaces a file that holds no usable one (empty, cut, edited): the embedded
    Redis never runs without a password, whatever happened to the file."""
    if config.redis.password:
        return config.redis.password
    from heroagent.secret_files import generated_secret  # only here: a client that is given a URL never needs it

    return generated_secret(
        password_path(config), service="redis", what="Redis password", create=create, keep_unusable=True
    )


def redis_url_for(config: Config) -> str:
    """How to reach the appliance's Redis from this machine: its URL, else the embedded one's socket or port."""
    if config.redis.url:
        return config.redis.url
    password = embedded_password(config, create=False)
    auth = f"?password={quote(password, safe='')}" if password else ""
    if config.redis_socket.exists():
        return f"unix://{config.redis_socket}{auth}"
    pw = f":{quote(password, safe='')}@" if password else ""
    return f"redis://{pw}{config.redis.host}:{config.redis.tcp_port}/0"


def redis_disk_problem(exc: BaseException) -> str:
    """A Redis error that means a full or failing disk (MISCONF: Redis cannot save, and then refuses
    writes), in words, so it is named as such and not as "Redis is not reachable" ('' = not that)."""
    text = str(exc)
    if "MISCONF" not in text and "No space left" not in text:
        return ""
    disk = "the disk is full" if "space" in text.lower() else "it cannot write to its disk"
    return (
        f"Redis refuses writes: {disk} ({text[:200]}); free space where Redis keeps its files (the embedded "
        "one: <data_dir>/redis), then it takes writes again on its own"
    )


def tls_options(config: Config) -> dict[str, Any]:
    """The redis-py options of `[redis] tls_*` for a rediss:// url, or for sentinels with `sentinel_tls` ({} for
    any other)."""
    redis_cfg = config.redis
    through_sentinels = bool(redis_cfg.sentinels) and redis_cfg.sentinel_tls
    if not redis_cfg.url.startswith("rediss://") and not through_sentinels:
        return {}
    options: dict[str, Any] = {"ssl_cert_reqs": "required" if redis_cfg.tls_verify else "none"}
    if through_sentinels:
        options["ssl"] = True  # no rediss:// url says it
    if not redis_cfg.tls_verify:
        options["ssl_check_hostname"] = False
    for key, option in (("tls_ca", "ssl_ca_certs"), ("tls_cert", "ssl_certfile"), ("tls_key", "ssl_keyfile")):
        value = getattr(redis_cfg, key)
        if value:
            options[option] = str(Path(value).expanduser())
    return options


def tls_hint(exc: BaseException) -> str:
    """What to check when a connection failed on TLS ('' when it was not TLS)."""
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        return "; the server's certificate was not signed by [redis] tls_ca (or the system's CAs): set tls_ca"
    if "WRONG_VERSION_NUMBER" in text or "wrong version number" in text or "record layer failure" in text:
        return "; this port does not speak TLS: use a redis:// url (or the server's TLS port)"
    if "Connection reset" in text or "Connection closed" in text:
        return (
            "; a TLS port given a plain redis:// url, or a server that wants a client certificate "
            "([redis] tls_cert, tls_key)"
        )
    return ""


SENTINEL_TIMEOUT = 2.0  # seconds a question to one sentinel may take before the next one is asked


@dataclass(frozen=True)
class RedisTarget:
    """Where a process reaches the appliance's Redis: a URL, or the master a set of sentinels names.

    Every client (the server's, a `heroagent worker`'s, `JobClient`'s, the CLI's) is made by `client`, so
    all of them follow a Sentinel failover the same way: redis-py's Sentinel pool asks the sentinels for
    the master when it connects, and a connection to a master that died or became a replica fails and
    is made anew to the one the sentinels name now."""

    url: str = ""
    sentinels: tuple[tuple[str, int], ...] = ()
    master: str = ""
    username: str = ""
    password: str = field(default="", repr=False)
    sentinel_password: str = field(default="", repr=False)
    tls: Mapping[str, Any] = field(default_factory=dict)
    named_by: str = ""  # what said where, for errors ("" : the config's keys)
    # With a Redis Cluster (`[redis] cluster`): the hash tag of every key, whose slot's primary `url` leads to
    hash_tag: str = ""

    @classmethod
    def of(cls, config: Config, url: str | None = None) -> RedisTarget:
        """The target `config` names (`url`, e.g. a worker's --redis, replaces its url and sentinels)."""
        redis_cfg = config.redis
        if url is not None:
            tls = tls_options(replace(config, redis=replace(redis_cfg, url=url)))
            return cls(url=url, tls=tls, named_by="--redis", hash_tag=redis_cfg.hash_tag)
        if redis_cfg.sentinels:
            return cls(
                sentinels=tuple(_host_port(s) for s in redis_cfg.sentinels),
                master=redis_cfg.sentinel_master,
                username=redis_cfg.username,
                password=redis_cfg.password,
                sentinel_password=redis_cfg.sentinel_password,
                tls=tls_options(config),
            )
        target = redis_url_for(config)
        external = bool(redis_cfg.url)
        return cls(
            url=target,
            username=redis_cfg.username if external else "",
            password=redis_cfg.password if external else "",
            tls=tls_options(config),
            hash_tag=redis_cfg.hash_tag,
        )

    def with_tag(self, hash_tag: str) -> RedisTarget:
        """The same cluster, for the keys of another hash tag (another partition's slot)."""
        return replace(self, hash_tag=hash_tag)

    @property
    def display(self) -> str:
        """Where, without a password: for banners, pages and errors."""
        if self.sentinels:
            return f"sentinel://{','.join(f'{h}:{p}' for h, p in self.sentinels)}/{self.master}"
        if self.hash_tag:
            return f"{redacted(self.url)} (Redis Cluster, slot of {{{self.hash_tag}}})"
        return redacted(self.url)

    @property
    def setting(self) -> str:
        """The config keys that say where, for an error's fix."""
        if self.named_by:
            return self.named_by
        return "[redis] sentinels and sentinel_master" if self.sentinels else "[redis] url"

    def client(self, **options: Any) -> redis.Redis:
        """A client of this Redis (the master, with sentinels); `options` are redis-py's."""
        auth: dict[str, Any] = {}
        if self.password:
            auth["password"] = self.password
        if self.username:
            auth["username"] = self.username
        if self.hash_tag:  # the primary serving the tag's slot, found anew after a failover
            from heroagent.redis_cluster import slot_client  # only a cluster's processes load it

            return slot_client(self.url, self.hash_tag, **{**auth, **self.tls, **options})
        if not self.sentinels:
            return redis.Redis.from_url(self.url, **{**auth, **self.tls, **options})  # the url's own auth wins
        sentinel = Sentinel(
            list(self.sentinels),
            sentinel_kwargs={
                "password": self.sentinel_password or None,
                "socket_timeout": SENTINEL_TIMEOUT,
                "socket_connect_timeout": SENTINEL_TIMEOUT,
                **self.tls,  # sentinel_tls: the sentinels speak TLS too
            },
        )
        master: redis.Redis = sentinel.master_for(
            self.master, redis_class=redis.Redis, **{**auth, **self.tls, **options}
        )
        return master

    def unreachable(self, exc: BaseException) -> str:
        """Why this Redis did not answer, in words naming the setting to check."""
        if self.sentinels and isinstance(exc, MasterNotFoundError):
            known = self._masters_known()
            if known is None:
                tls = "" if self.tls else ", and [redis] sentinel_tls = true if they speak TLS"
                return (
                    f"no sentinel of [redis] sentinels answered ({self.display}): check their addresses, "
                    f"[redis] sentinel_password if they have one{tls}"
                )
            if self.master not in known:
                names = ", ".join(sorted(known)) or "none"
                return (
                    f"the sentinels monitor no master called {self.master!r} (they monitor: {names}): "
                    "check [redis] sentinel_master"
                )
            return f"the sentinels know master {self.master!r} but none says it is up (a failover under way?)"
        if self.hash_tag:  # a cluster's client: redis_cluster is loaded already (a plain one never loads it)
            from heroagent.redis_cluster import NotAClusterError

            if isinstance(exc, NotAClusterError):
                return f"{exc} ({self.setting})"
        return f"cannot reach Redis at {self.display} ({self.setting}): {exc}{tls_hint(exc)}"

    def _masters_known(self) -> set[str] | None:
        """The master names the first sentinel that answers monitors (None: none answered)."""
        for host, port in self.sentinels:
            probe = redis.Redis(
                host=host,
                port=port,
                password=self.sentinel_password or None,
                socket_timeout=SENTINEL_TIMEOUT,
                socket_connect_timeout=SENTINEL_TIMEOUT,
                **self.tls,
            )
            try:
                masters: Any = probe.sentinel_masters()
                return {str(name) for name in masters}
            except redis.RedisError:
                continue
            finally:
                probe.close()
        return None


def _host_port(entry: str) -> tuple[str, int]:
    host, _, port = entry.rpartition(":")
    return host.strip("[]"), int(port)
