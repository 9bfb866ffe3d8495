"""The one configuration of an appliance: typed dataclasses, read from TOML, overridden by environment.

Why dataclasses walked by one generic loader: every key then has exactly one default (the field's),
one type (the annotation) and one place to be validated, and `config show`, the environment overrides
and `config.example.toml` cannot drift from what the code accepts.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tomllib
import typing
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from heroagent.errors import ConfigError, InvalidInputError
from heroagent.redaction import redacted
from heroagent.schema.job import NEW_JOB, TOPIC_PATTERN, ParamsType, check_type_defaults
from heroagent.schema.schedule import Schedule, ScheduleError
from heroagent.schema.topic import TOPIC_LIMITS, TopicLimits

PARAMS_TYPES = tuple(p.value for p in ParamsType)

ENV_PREFIX = "HEROAGENT_"
CONFIG_ENV = "HEROAGENT_CONFIG"
# Environment variables with the prefix that are not config keys.
_ENV_NOT_KEYS = {CONFIG_ENV, "HEROAGENT_LOG_LEVEL"}
# A setting whose value is never printed (errors, `heroagent config show` without --show-secrets): a
# password, a token or key, the WebDAV users' passwords. A URL that may hold one is shown `redacted`.
SECRET = {"secret": "value"}
SECRET_URL = {"secret": "url"}


@dataclass
class RedisConfig:
    """The embedded Redis (or, with `url`, an external one)."""

    enabled: bool = True
    url: str = field(default="", metadata=SECRET_URL)  # may hold a password
    host: str = "127.0.0.1"
    tcp_port: int = 6379
    unix_socket: str = ""
    password: str = field(default="", metadata=SECRET)
    appendonly: bool = True
    # When the AOF reaches the disk: "everysec" (a power loss can lose the last second; a killed
    # redis-server loses nothing, the OS has the writes) or "always" (before each reply; slower).
    appendfsync: str = "everysec"
    # TLS to an external Redis (a `rediss://` url): the CA that signed its certificate (empty: the
    # system's), this client's certificate and key when the server asks for one, and whether to verify.
    tls_ca: str = ""
    tls_cert: str = ""
    tls_key: str = ""
    tls_verify: bool = True
    # An ACL user for an external Redis (a url's own user wins; with `sentinels`, the master's user).
    username: str = ""
    # Redis Sentinel: the sentinels ("host:port") that name the master called `sentinel_master`; every
    # client asks them where the master is, and again after a failover. `sentinel_password` is the
    # sentinels' own (their requirepass); `password` / `username` are the master's.
    sentinels: list[str] = field(default_factory=list)
    sentinel_master: str = ""
    sentinel_password: str = field(default="", metadata=SECRET)
    # TLS to the sentinels and to the master they name (there is no rediss:// url to say it), with the
    # tls_* settings above.
    sentinel_tls: bool = False
    # Replicas that must have a create, a job's final state and an event before it counts (WAIT): with 1,
    # killing the primary loses no acknowledged job. 0: replication is asynchronous (see the README).
    min_replicas: int = 0
    # Seconds a write waits for those replicas before it is answered with an error (at most 1.5: a
    # create through the API is answered within 2 s).
    replica_timeout: float = 1.0
    # Put in front of every key HeroAgent uses ("team-a:"): several HeroAgents, or other programs, then share
    # one Redis without touching each other's keys (config.key_prefix_problem's rule; README: the ACL rule that
    # uses it). Empty: no prefix, the keys every HeroAgent had before (hero tools read them as they are).
    key_prefix: str = ""
    # A Redis Cluster: `url` names any node of it. Every key then carries one hash tag ({<key_prefix>hero}), so
    # every script touches one slot: this HeroAgent's jobs live on the primary serving it, and the clients
    # find the replica promoted after a failover (heroagent/redis_cluster.py).
    cluster: bool = False
    # With cluster: spread the topics over this many slots (a topic's partition is a hash of its name), so
    # the jobs of one HeroAgent use several primaries. Fixed for the life of the cluster's data (a job id
    # says its partition); dependencies, chains and groups stay within one partition.
    partitions: int = 1

    @property
    def hash_tag(self) -> str:
        """The Redis Cluster hash tag in every key of partition 0 with `cluster` ("" without)."""
        return cluster_hash_tag(self.key_prefix) if self.cluster else ""

    @property
    def external(self) -> bool:
        """A Redis we do not run: given by url or by sentinels."""
        return bool(self.url or self.sentinels)


@dataclass
class WebDAVConfig:
    """The WebDAV share where users keep the scripts jobs run."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 9999
    root: str = ""
    readonly: bool = False
    tls_cert: str = ""
    tls_key: str = ""
    users: dict[str, str] = field(default_factory=dict, metadata=SECRET)  # name -> password
    # Names the share answers to besides its address and localhost/127.0.0.1/[::1] (DNS rebinding guard).
    allowed_hosts: list[str] = field(default_factory=list)


@dataclass
class UIConfig:
    """The browser dashboard and JSON API."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 9021
    password: str = field(default="", metadata=SECRET)
    api_token: str = field(default="", metadata=SECRET)
    # Names the dashboard answers to besides its address and localhost/127.0.0.1/[::1] (DNS rebinding guard).
    allowed_hosts: list[str] = field(default_factory=list)


@dataclass
class RhaiConfig:
    """`rhaiscript` jobs: the command that runs a script given on stdin (e.g. "rhai-run")."""

    command: str = ""


@dataclass
class AIConfig:
    """`ai` jobs: an OpenAI-compatible chat completions endpoint."""

    base_url: str = field(default="", metadata=SECRET_URL)  # may hold user:password@
    model: str = ""
    api_key: str = field(default="", metadata=SECRET)


@dataclass
class JobsConfig:
    """The job manager and the local worker pool."""

    enabled: bool = True
    db_path: str = ""
    worker_count: int = 5
    # Worker processes `serve` runs for its topics instead of the pool in its own process (each a `heroagent
    # worker` child with worker_count threads, tied to the server, restarted when it dies): a pool's threads
    # share one interpreter lock, the server's recorder and requests another. 0: the pool runs in the server
    # (every actor registered in it can run). Their actors come from [jobs] modules.
    worker_processes: int = 0
    queue_poll_interval: float = 0.1
    default_timeout: float = 60.0
    topics: list[str] = field(default_factory=lambda: ["*"])
    lease_seconds: float = 10.0
    stop_grace: float = 10.0
    max_retries: int = 0
    retry_delay: float = 10.0
    retry_delay_max: float = 3600.0
    # The largest params, result or error a job may have, in bytes (up to 16 MiB); larger results are cut.
    max_value_bytes: int = 16 * 1024 * 1024
    # Seconds a job's idempotency_key keeps answering with that job (a retried submit never makes two).
    idempotency_window: float = 86400.0
    # The least retry_delay a job with retries gets (seconds): no job can retry in a hot loop.
    retry_delay_min: float = 1.0
    max_lost_attempts: int = 3
    history_days: float = 0.0
    modules: list[str] = field(default_factory=list)
    # Topics whose jobs run in a child process that timeouts and cancel kill (any code, C calls included);
    # other jobs run in their worker thread, where cancel is cooperative. Per actor: isolation="process".
    process_topics: list[str] = field(default_factory=list)
    # A HeroScript job calling an actor no live worker pool serves: "refuse" it at create (once any pool has
    # published its job types), or "accept" it (it fails when it runs, unless a pool serving it comes).
    unknown_actors: str = "refuse"
    # `openrpc` jobs: topic -> endpoint ("http://..." or "unix:///path.sock"); "*" for every topic.
    openrpc: dict[str, str] = field(default_factory=dict, metadata=SECRET_URL)  # URLs may hold a key
    # Webhooks (a job's callback_url, a topic's [topics.<name>] webhook): the key of their HMAC-SHA256
    # signature (empty: one is made at the first start and kept in <data_dir>/webhooks/secret, mode 600;
    # `heroagent webhooks secret` prints it), whether they may go to a private address (loopback, LAN,
    # link-local: off, so a job cannot make the server reach inside its own network), and the seconds one
    # attempt may take in all (connect, send, answer).
    webhook_secret: str = field(default="", metadata=SECRET)
    webhook_allow_private: bool = False
    webhook_timeout: float = 10.0
    rhai: RhaiConfig = field(default_factory=RhaiConfig)
    ai: AIConfig = field(default_factory=AIConfig)


UNKNOWN_ACTORS = ("refuse", "accept")
MAX_PARTITIONS = 64  # [redis] partitions (jobs/keys.py keeps the same bound)
WORKER_PROCESSES_MAX = 256  # as `heroagent worker --processes`
WEBHOOK_TIMEOUT_MAX = 120.0  # seconds: one attempt holds one of the few sending threads at most this long
# A topic's table: its limits (heroagent.schema.topic) and its webhook.
TOPIC_WEBHOOK = "webhook"
# A topic's table: pause_on_error = true pauses the topic at its first job that ends in error or timeout after
# its retries (it says why on the overview and in health; resume by hand).
TOPIC_PAUSE_ON_ERROR = "pause_on_error"
_TOPIC_POLICIES = (TOPIC_WEBHOOK, TOPIC_PAUSE_ON_ERROR)  # a topic table's keys that are not limits


@dataclass
class SchedulerConfig:
    """Recurring schedules and the appliance's own upkeep (see heroagent/schedules)."""

    enabled: bool = True
    # The process holding this lease in Redis fires the schedules; others take over when it lapses.
    lease_seconds: float = 10.0
    # Upkeep, in UTC: compact the job history daily at HH:MM ("" = never); sweep Redis every N seconds.
    compact_at: str = "03:30"
    sweep_every: float = 60.0


@dataclass
class HeroConfig:
    """The Hero ecosystem's Redis queues (heroagent/jobs/server/hero.py): HeroAgent as a hero actor and supervisor."""

    enabled: bool = False
    # script_type -> the params type HeroAgent runs it as: jobs a hero supervisor pushes to
    # hero:q:work:type:<script_type> become HeroAgent jobs, answered the hero way.
    serve: dict[str, str] = field(default_factory=lambda: {"heroscript": "heroscript"})
    # Topics whose jobs are handed to external hero actors (hero:q:work:type:<topic>), not run here.
    dispatch: list[str] = field(default_factory=list)


@dataclass
class Config:
    """The whole appliance. `data_dir` holds everything it writes unless a path says otherwise."""

    data_dir: str = "~/hero/var/heroagent"
    redis: RedisConfig = field(default_factory=RedisConfig)
    webdav: WebDAVConfig = field(default_factory=WebDAVConfig)
    ui: UIConfig = field(default_factory=UIConfig)
    jobs: JobsConfig = field(default_factory=JobsConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    hero: HeroConfig = field(default_factory=HeroConfig)
    # [job_types.<actor>] tables: defaults (timeout, max_retries, retry_delay, priority, no_overlap) of
    # the jobs calling that actor, over the actor's own (@heroagent.actor(..., timeout=...)) and [jobs]'s.
    job_types: dict[str, dict[str, Any]] = field(default_factory=dict)
    # [topics.<topic>] tables: the topic's limits over every worker (max_running, rate = "100/minute"),
    # set in Redis at every start (a limit set at run time for a topic not listed here stays).
    topics: dict[str, dict[str, Any]] = field(default_factory=dict)
    # [[schedules]] tables: recurring jobs (checked by heroagent.schema.schedule.Schedule).
    schedules: list[dict[str, Any]] = field(default_factory=list)
    source: str = field(default="<defaults>", compare=False, metadata={"internal": True})

    # Paths derived from data_dir; every consumer asks here so the layout is decided once.
    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser()

    @property
    def redis_dir(self) -> Path:
        return self.data_path / "redis"

    @property
    def redis_socket(self) -> Path:
        return Path(self.redis.unix_socket).expanduser() if self.redis.unix_socket else self.redis_dir / "redis.sock"

    @property
    def webdav_root(self) -> Path:
        return Path(self.webdav.root).expanduser() if self.webdav.root else self.data_path / "webdav"

    @property
    def share_root(self) -> Path | None:
        """The share that `script` jobs run files from and the dashboard lists; None when there is none."""
        return self.webdav_root if self.webdav.enabled or self.webdav.root else None

    @property
    def ui_secret_key_path(self) -> Path:
        return self.data_path / "ui" / "secret_key"

    @property
    def jobs_db_path(self) -> Path:
        return Path(self.jobs.db_path).expanduser() if self.jobs.db_path else self.data_path / "jobsdb"

    @property
    def logs_dir(self) -> Path:
        return self.data_path / "logs"

    @property
    def schedules_path(self) -> Path:
        return self.data_path / "schedules.json"

    @property
    def webhook_secret_path(self) -> Path:
        """Where the generated webhook secret is kept when `[jobs] webhook_secret` is empty."""
        return self.data_path / "webhooks" / "secret"

    def topic_limits(self) -> dict[str, TopicLimits]:
        """The limits of each `[topics.<name>]` table (checked when the config was loaded). A table that
        names only a webhook is left out: it sets no limits, so it keeps those set at run time."""
        return {
            topic: TopicLimits.check(_without_webhook(given), f"topic {topic}")
            for topic, given in self.topics.items()
            if _without_webhook(given) or not given
        }

    def topic_webhooks(self) -> dict[str, str]:
        """topic -> the URL of its `[topics.<name>] webhook`, for the topics that have one."""
        return {topic: str(given[TOPIC_WEBHOOK]) for topic, given in self.topics.items() if given.get(TOPIC_WEBHOOK)}

    def topics_pausing_on_error(self) -> list[str]:
        """The topics whose `[topics.<name>] pause_on_error` is true."""
        return sorted(topic for topic, given in self.topics.items() if given.get(TOPIC_PAUSE_ON_ERROR) is True)


def _without_webhook(given: Mapping[str, Any]) -> dict[str, Any]:
    """A topic's table without what is not a limit (its webhook, its pause_on_error)."""
    return {key: value for key, value in given.items() if key not in _TOPIC_POLICIES}


# Keys whose value is a TCP port; checked for range and for clashes.
_PORT_KEYS = {("redis", "tcp_port"), ("webdav", "port"), ("ui", "port")}
_POSITIVE_KEYS = {
    ("jobs", "worker_count"),
    ("jobs", "queue_poll_interval"),
    ("jobs", "default_timeout"),
    ("jobs", "lease_seconds"),
    ("jobs", "retry_delay_max"),
    ("jobs", "retry_delay_min"),
    ("jobs", "idempotency_window"),
    ("jobs", "max_value_bytes"),
    ("jobs", "max_lost_attempts"),
    ("scheduler", "lease_seconds"),
    ("scheduler", "sweep_every"),
    ("redis", "replica_timeout"),
    ("jobs", "webhook_timeout"),
}
_NOT_NEGATIVE_KEYS = {
    ("jobs", "worker_processes"),
    ("jobs", "stop_grace"),
    ("jobs", "max_retries"),
    ("jobs", "retry_delay"),
    ("jobs", "history_days"),
    ("redis", "min_replicas"),
}


def default_config() -> Config:
    """The defaults: what `heroagent serve` runs with when there is no file."""
    return Config()


def load_config(path: str | os.PathLike[str] | None = None, *, environ: Mapping[str, str] | None = None) -> Config:
    """Read `path` (TOML) over the defaults, then apply `HEROAGENT_<SECTION>_<KEY>` overrides.

    With no path, `HEROAGENT_CONFIG` names the file; with neither, the defaults are used.
    Raises ConfigError with a one-line message naming the file, key, value and what is allowed.
    """
    env = os.environ if environ is None else environ
    if path is None and env.get(CONFIG_ENV):
        path = env[CONFIG_ENV]
    config = Config()
    if path is not None:
        file = Path(path).expanduser()
        source = str(file)
        try:
            raw = file.read_bytes()
        except FileNotFoundError:
            raise ConfigError(
                f"{source}: config file not found; name an existing TOML file, or none for the defaults"
            ) from None
        except OSError as exc:
            raise ConfigError(f"{source}: cannot read config file: {exc.strerror}") from None
        try:
            data = tomllib.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise ConfigError(f"{source}: config file is not UTF-8 text") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{source}: not valid TOML: {exc}") from None
        _apply_table(config, data, source, ())
        config.source = source
    _apply_environment(config, env)
    validate(config)
    return config


def validate(config: Config) -> None:
    """Check ranges and cross-key rules that a type alone cannot express: each check in _CHECKS, in order,
    raises ConfigError naming the file, the key, the value and what is allowed."""
    for check in _CHECKS:
        check(config, config.source)


def _check_numbers(config: Config, src: str) -> None:
    _check_finite(config, src)
    for section, key in sorted(_PORT_KEYS):
        value = getattr(getattr(config, section), key)
        if not 1 <= value <= 65535:
            raise ConfigError(f"{src}: [{section}] {key} = {value}: must be a port number from 1 to 65535")
    for section, key in sorted(_POSITIVE_KEYS):
        value = getattr(getattr(config, section), key)
        if value <= 0:
            raise ConfigError(f"{src}: [{section}] {key} = {value}: must be greater than 0")
    for section, key in sorted(_NOT_NEGATIVE_KEYS):
        value = getattr(getattr(config, section), key)
        if value < 0:
            raise ConfigError(f"{src}: [{section}] {key} = {value}: must be 0 or more")
    if config.jobs.worker_processes > WORKER_PROCESSES_MAX:
        raise ConfigError(
            f"{src}: [jobs] worker_processes = {config.jobs.worker_processes}: must be at most {WORKER_PROCESSES_MAX} "
            "(about one per core; 0 runs the pool in the server)"
        )
    if config.jobs.max_value_bytes > 16 * 1024 * 1024:
        raise ConfigError(
            f"{src}: [jobs] max_value_bytes = {config.jobs.max_value_bytes}: must be at most 16777216 (16 MiB)"
        )


def _check_redis(config: Config, src: str) -> None:
    password = config.redis.password
    if password and (not password.isprintable() or any(c in password for c in '"\\ ')):
        raise ConfigError(
            f"{src}: [redis] password: must not hold quotes, backslashes, spaces or control characters "
            "(it is written into redis.conf); leave it empty to have one generated"
        )
    if config.redis.appendfsync not in ("everysec", "always"):
        raise ConfigError(f'{src}: [redis] appendfsync = {config.redis.appendfsync!r}: must be "everysec" or "always"')
    if config.redis.url and not config.redis.url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(
            f"{src}: [redis] url = {redacted(config.redis.url)!r}: must start with redis://, rediss:// or unix:// "
            '(or be "" for the embedded Redis)'
        )
    _check_sentinels(config, src)
    _check_cluster(config, src)
    _check_redis_tls(config, src)
    problem = key_prefix_problem(config.redis.key_prefix)
    if problem:
        given = config.redis.key_prefix[:80]
        raise ConfigError(f"{src}: [redis] key_prefix = {given!r} (or HEROAGENT_REDIS_KEY_PREFIX): {problem}")


# The rule of a key prefix (`[redis] key_prefix`, `heroagent worker --key-prefix`, `JobClient(key_prefix=)`):
# what a HeroAgent puts in front of every Redis key it uses, so several of them (and other programs) share one
# Redis without touching each other's keys.
#
# A prefix is one or more parts, each ending with ':' ("team-a:", "prod:agent1:"): letters, digits, '_', '.'
# and '-', at most 64 characters in all. Why so strict:
#
# - the ':' at the end keeps the prefix apart from the key (`a:hero:events`, never `ahero:events`), and the
#   Redis ACL patterns a prefix is meant for (`~a:*`, `&a:*`) then match its keys and no other program's;
# - no glob characters (`*?[]\`), so the prefix is a literal in SCAN patterns and ACL rules alike, and no
#   spaces, quotes or control characters, so it can be written into an ACL line or a shell command as it is;
# - no part starts with "hero": every key of a layout starts with its prefix followed by "hero", so two
#   prefixes where one is the other plus a part starting with "hero" would share keys (and the unprefixed
#   layout's SCAN of `herojobs:*` would walk a "herojobs:" prefix's keys). With this rule no two layouts'
#   keys can be the same.
KEY_PREFIX_MAX = 64
KEY_PREFIX = re.compile(r"(?:[A-Za-z0-9_.-]+:)+")
KEY_PREFIX_EXAMPLE = '"team-a:"'


def cluster_hash_tag(prefix: str, partition: int = 0) -> str:
    """The hash tag of a key prefix's keys on a Redis Cluster (`{<prefix>hero}` in each: one slot for all; with
    [redis] partitions, partition k > 0 has `{<prefix>hero<k>}`)."""
    return f"{prefix}hero{partition or ''}"


def key_prefix_problem(prefix: str) -> str:
    """What is wrong with `prefix` as a key prefix, in words with the fix ('' = nothing: it may be used;
    the empty prefix is the unprefixed layout of every HeroAgent before key prefixes)."""
    if prefix == "":
        return ""
    if len(prefix) > KEY_PREFIX_MAX:
        return f"must be at most {KEY_PREFIX_MAX} characters (it is {len(prefix)}), e.g. {KEY_PREFIX_EXAMPLE}"
    if not KEY_PREFIX.fullmatch(prefix):
        fixed = prefix + ":"
        if KEY_PREFIX.fullmatch(fixed):
            return f"must end with ':' (e.g. {fixed!r}), so the ACL pattern ~{fixed}* matches only its keys"
        return (
            "may only hold letters, digits, '_', '.', '-' and ':' (each part ending with ':'; no spaces, quotes, "
            f"glob characters or empty parts), e.g. {KEY_PREFIX_EXAMPLE}"
        )
    if any(part.lower().startswith("hero") for part in prefix.split(":")):
        return (
            "no part of it may start with 'hero' (HeroAgent's own keys do, so such a prefix could share keys with "
            f"another layout's): use e.g. {KEY_PREFIX_EXAMPLE}"
        )
    return ""


_SENTINEL = re.compile(r"(?P<host>[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\]):(?P<port>[0-9]{1,5})")
_MASTER_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}")


def _check_sentinels(config: Config, src: str) -> None:
    """Sentinels given as host:port, with a master name, and not beside a url (one Redis per config)."""
    redis_cfg = config.redis
    if redis_cfg.min_replicas > 16:
        raise ConfigError(f"{src}: [redis] min_replicas = {redis_cfg.min_replicas}: must be at most 16")
    if redis_cfg.replica_timeout > 1.5:
        raise ConfigError(
            f"{src}: [redis] replica_timeout = {redis_cfg.replica_timeout}: must be at most 1.5 (seconds; a create "
            "through the API is answered within 2 s)"
        )
    if not redis_cfg.sentinels:
        given = [key for key in ("sentinel_master", "sentinel_password", "sentinel_tls") if getattr(redis_cfg, key)]
        if given:
            raise ConfigError(f'{src}: [redis] {given[0]}: needs [redis] sentinels = ["host:26379", ...]')
        return
    if redis_cfg.url:
        raise ConfigError(
            f"{src}: [redis] url and sentinels: give one of them (with sentinels, the sentinels name the master)"
        )
    if (redis_cfg.tls_ca or redis_cfg.tls_cert or redis_cfg.tls_key) and not redis_cfg.sentinel_tls:
        raise ConfigError(
            f"{src}: [redis] tls_*: with sentinels, set [redis] sentinel_tls = true (TLS to the sentinels and the "
            "master), or leave the tls_* settings empty"
        )
    for entry in redis_cfg.sentinels:
        found = _SENTINEL.fullmatch(entry) if isinstance(entry, str) else None
        if found is None or not 1 <= int(found["port"]) <= 65535:
            raise ConfigError(
                f'{src}: [redis] sentinels: {str(entry)[:80]!r} is not "host:port" (e.g. "10.0.0.5:26379")'
            )
    if not _MASTER_NAME.fullmatch(redis_cfg.sentinel_master):
        raise ConfigError(
            f"{src}: [redis] sentinel_master = {redis_cfg.sentinel_master[:80]!r}: name the master the sentinels "
            'monitor (their "sentinel monitor <name> ..." line): 1-128 letters, digits, "_", "." or "-"'
        )


def _check_cluster(config: Config, src: str) -> None:
    """A cluster is named by the URL of one of its nodes, over TCP, database 0."""
    redis_cfg = config.redis
    if not 1 <= redis_cfg.partitions <= MAX_PARTITIONS:
        raise ConfigError(
            f"{src}: [redis] partitions = {redis_cfg.partitions}: must be 1 to {MAX_PARTITIONS} (about the number of "
            "the cluster's primaries, or a few times it)"
        )
    if not redis_cfg.cluster:
        if redis_cfg.partitions > 1:
            raise ConfigError(
                f"{src}: [redis] partitions = {redis_cfg.partitions}: needs [redis] cluster = true (one Redis has one "
                "core: partitions spread the jobs over a cluster's primaries)"
            )
        return
    if not redis_cfg.url.startswith(("redis://", "rediss://")):
        raise ConfigError(
            f'{src}: [redis] cluster = true: needs [redis] url = "redis://host:port" (any node of the cluster; '
            "rediss:// for TLS); the embedded Redis, sentinels and unix sockets are no cluster"
        )
    path = urllib.parse.urlsplit(redis_cfg.url).path.strip("/")
    if path not in ("", "0"):
        raise ConfigError(
            f"{src}: [redis] url = {redacted(redis_cfg.url)!r}: a Redis Cluster has only database 0; drop the "
            f"/{path[:20]}"
        )


def _check_redis_tls(config: Config, src: str) -> None:
    """The TLS files exist, go together, and are only given for a `rediss://` url."""
    redis_cfg = config.redis
    given = [key for key in ("tls_ca", "tls_cert", "tls_key") if getattr(redis_cfg, key)]
    if not given and redis_cfg.tls_verify:
        return
    if not redis_cfg.url.startswith("rediss://") and not (redis_cfg.sentinels and redis_cfg.sentinel_tls):
        raise ConfigError(
            f"{src}: [redis] {', '.join(given) or 'tls_verify'}: TLS settings need a rediss:// url "
            '([redis] url = "rediss://:password@host:6380/0"); the embedded Redis speaks no TLS'
        )
    if bool(redis_cfg.tls_cert) != bool(redis_cfg.tls_key):
        raise ConfigError(f"{src}: [redis] tls_cert and tls_key must be set together (or both left empty)")
    for key in given:
        path = Path(getattr(redis_cfg, key)).expanduser()
        if not path.is_file():
            raise ConfigError(f"{src}: [redis] {key} = {str(path)!r}: no such file")


def _check_services(config: Config, src: str) -> None:
    """TLS settings that go together, and one port per service."""
    if bool(config.webdav.tls_cert) != bool(config.webdav.tls_key):
        raise ConfigError(f"{src}: [webdav] tls_cert and tls_key must be set together (or both left empty)")
    used: dict[int, str] = {}
    for section, key, enabled in (
        ("redis", "tcp_port", config.redis.enabled and not config.redis.external),
        ("webdav", "port", config.webdav.enabled),
        ("ui", "port", config.ui.enabled),
    ):
        if not enabled:
            continue
        port = getattr(getattr(config, section), key)
        if port in used:
            raise ConfigError(
                f"{src}: [{section}] {key} = {port}: port already used by {used[port]}; give each service its own port"
            )
        used[port] = f"[{section}] {key}"


def _check_jobs(config: Config, src: str) -> None:
    if not config.jobs.topics:
        raise ConfigError(f'{src}: [jobs] topics = []: list at least one topic, or ["*"] for all')
    if config.jobs.unknown_actors not in UNKNOWN_ACTORS:
        raise ConfigError(
            f'{src}: [jobs] unknown_actors = {config.jobs.unknown_actors!r}: must be "refuse" or "accept"'
        )
    for topic, endpoint in config.jobs.openrpc.items():
        if not endpoint.startswith(("http://", "https://", "unix://")):
            raise ConfigError(
                f"{src}: [jobs.openrpc] {topic} = {redacted(endpoint)!r}: must start with http://, https:// or unix://"
            )
    if config.jobs.ai.base_url and not config.jobs.ai.base_url.startswith(("http://", "https://")):
        raise ConfigError(f"{src}: [jobs.ai] base_url = {config.jobs.ai.base_url!r}: must be an http(s):// URL")
    _check_webhooks(config, src)


def _check_webhooks(config: Config, src: str) -> None:
    """A webhook secret long enough to be no guess (never shown), and a timeout that frees a sender."""
    secret = config.jobs.webhook_secret
    if secret and (len(secret) < MIN_TOKEN_LENGTH or not secret.isprintable() or secret != secret.strip()):
        raise ConfigError(
            f"{src}: [jobs] webhook_secret: must be at least {MIN_TOKEN_LENGTH} printable characters without "
            "leading or trailing spaces (`openssl rand -hex 32`), or empty to have one generated"
        )
    if config.jobs.webhook_timeout > WEBHOOK_TIMEOUT_MAX:
        raise ConfigError(
            f"{src}: [jobs] webhook_timeout = {config.jobs.webhook_timeout}: must be at most {WEBHOOK_TIMEOUT_MAX:g} "
            "(seconds one delivery attempt may take; a slower receiver is retried later)"
        )


def _check_hero(config: Config, src: str) -> None:
    for script_type, params_type in config.hero.serve.items():
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", script_type):
            raise ConfigError(
                f"{src}: [hero] serve: script type {script_type!r} may only use letters, digits, '_', '.', '-'"
            )
        if params_type not in PARAMS_TYPES:
            raise ConfigError(
                f"{src}: [hero] serve.{script_type} = {params_type!r}: must be one of {', '.join(PARAMS_TYPES)}"
            )
    for topic in config.hero.dispatch:
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,128}", topic):
            raise ConfigError(f"{src}: [hero] dispatch: topic {topic!r} may only use letters, digits, '_', '.', '-'")


def _check_job_types(config: Config, src: str) -> None:
    for type_name, given in config.job_types.items():
        if not re.fullmatch(r"[a-z0-9_]{1,64}", type_name):
            raise ConfigError(f"{src}: [job_types.{type_name}]: a job type is an actor name (a-z, 0-9, _)")
        if not isinstance(given, dict):
            raise ConfigError(
                f"{src}: [job_types.{type_name}] must be a table of timeout, max_retries, retry_delay, priority, "
                "no_overlap"
            )
        try:
            check_type_defaults(type_name, given)
        except InvalidInputError as exc:
            raise ConfigError(f"{src}: [job_types.{type_name}]: {exc}") from None


def _check_topics(config: Config, src: str) -> None:
    for topic, given in config.topics.items():
        if not re.fullmatch(TOPIC_PATTERN, topic):
            raise ConfigError(f"{src}: [topics.{topic}]: a topic may only use letters, digits, '_', '.', '-'")
        allowed = [*TOPIC_LIMITS.names(), *_TOPIC_POLICIES]
        if not isinstance(given, dict):
            raise ConfigError(f"{src}: [topics.{topic}] must be a table of {', '.join(allowed)}")
        unknown = sorted(str(key) for key in given if key not in allowed)
        if unknown:
            raise ConfigError(
                f"{src}: [topics.{topic}] {', '.join(unknown)}: unknown field(s); allowed: {', '.join(allowed)}"
            )
        try:
            TopicLimits.check(_without_webhook(given), f"topic {topic}")
        except InvalidInputError as exc:
            raise ConfigError(f"{src}: [topics.{topic}]: {exc}") from None
        if TOPIC_WEBHOOK in given:
            _check_topic_webhook(topic, given[TOPIC_WEBHOOK], src)
        if TOPIC_PAUSE_ON_ERROR in given and not isinstance(given[TOPIC_PAUSE_ON_ERROR], bool):
            shown = str(given[TOPIC_PAUSE_ON_ERROR])[:40]
            raise ConfigError(f"{src}: [topics.{topic}] pause_on_error = {shown!r}: must be true or false")


def _check_topic_webhook(topic: str, url: Any, src: str) -> None:
    """Checked as a job's callback_url is (an http(s) URL of printable ASCII); shown redacted."""
    if not isinstance(url, str):
        raise ConfigError(f"{src}: [topics.{topic}] webhook = {_show(url)}: must be a string, an http(s):// URL")
    try:
        NEW_JOB.field("callback_url").check(url)
    except InvalidInputError:
        raise ConfigError(
            f"{src}: [topics.{topic}] webhook = {redacted(url)[:200]!r}: must be an http:// or https:// URL of "
            "printable ASCII characters without spaces, at most 2048 bytes"
        ) from None


def _check_schedules(config: Config, src: str) -> None:
    compact_at = config.scheduler.compact_at
    if compact_at and not _HHMM.match(compact_at):
        raise ConfigError(f'{src}: [scheduler] compact_at = {compact_at!r}: must be a UTC time HH:MM, or "" for never')
    names: set[str] = set()
    for number, table in enumerate(config.schedules, 1):
        try:
            schedule = Schedule.from_dict(table, source="config")
        except ScheduleError as exc:
            raise ConfigError(f"{src}: [[schedules]] number {number}: {exc}") from None
        if schedule.name in names:
            raise ConfigError(
                f"{src}: [[schedules]] {schedule.name!r} is defined twice; give each schedule its own name"
            )
        names.add(schedule.name)


MIN_TOKEN_LENGTH = 16  # [ui] api_token: long enough that guessing it is hopeless (the API never locks it out)


_CHECKS: tuple[Callable[[Config, str], None], ...] = (
    _check_numbers,
    _check_redis,
    _check_jobs,
    _check_services,
    _check_hero,
    _check_job_types,
    _check_topics,
    _check_schedules,
)


def _check_finite(section: Any, src: str, name: str = "") -> None:
    """Every number in the config is finite: TOML allows nan and inf, and no setting means them."""
    for f in dataclasses.fields(section):
        value = getattr(section, f.name)
        if dataclasses.is_dataclass(value):
            _check_finite(value, src, f.name if not name else f"{name}.{f.name}")
        elif isinstance(value, float) and not math.isfinite(value):
            where = f"[{name}] {f.name}" if name else f.name
            raise ConfigError(f"{src}: {where} = {value}: must be a finite number")


_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is list:
        return f"a list of {_describe(typing.get_args(tp)[0])}s"
    if origin is dict:
        return "a table of name = string"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(tp, str(tp))


def _coerce(value: Any, tp: Any, where: str, secret: bool = False) -> Any:
    """Check a TOML value against a field type; ints are accepted where floats are expected. A secret's
    value is not shown in the error."""
    origin = typing.get_origin(tp)
    ok: bool
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif tp is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif tp is str:
        ok = isinstance(value, str)
    elif origin is list:
        (item_tp,) = typing.get_args(tp)
        ok = isinstance(value, list)
        if ok and _is_table_array(tp):  # an array of tables: checked by whoever owns them
            if not all(isinstance(v, dict) for v in value):
                raise ConfigError(f"{where}: must be tables, written [[{where.rsplit(' ', 1)[-1]}]]")
            return [dict(v) for v in value]
        if ok:
            return [_coerce(v, item_tp, f"{where}[{i}]", secret) for i, v in enumerate(value)]
    elif origin is dict and typing.get_args(tp)[1] is not str:  # a table of tables: checked by its owner
        ok = isinstance(value, dict) and all(isinstance(v, dict) for v in value.values())
    elif origin is dict:
        ok = isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    else:  # pragma: no cover - a field type the loader does not know is a programming error
        raise TypeError(f"unsupported config type {tp!r}")
    if not ok:
        raise ConfigError(f"{where} = {'***' if secret else _show(value)}: must be {_describe(tp)}")
    return value


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _field_types(obj: Any) -> dict[str, Any]:
    return typing.get_type_hints(type(obj))


def _public_fields(obj: Any) -> list[dataclasses.Field[Any]]:
    return [f for f in dataclasses.fields(obj) if not f.metadata.get("internal")]


def _secret_names(obj: Any) -> set[str]:
    return {f.name for f in dataclasses.fields(obj) if f.metadata.get("secret")}


def hidden(value: Any, *, url: bool = False) -> Any:
    """A secret setting's value fit to print: a URL (`url`) with its secrets as *** (`redacted`), any other
    value set as *** (an empty one stays empty: it says the setting is not set); a table's values each so."""
    if isinstance(value, dict):
        return {name: hidden(item, url=url) for name, item in value.items()}
    if url and isinstance(value, str):
        return redacted(value)
    return "***" if value else value


def _apply_table(obj: Any, data: Mapping[str, Any], source: str, path: tuple[str, ...]) -> None:
    types = _field_types(obj)
    names = {f.name for f in _public_fields(obj)}
    secrets = _secret_names(obj)
    section = f"[{'.'.join(path)}] " if path else ""
    for key, value in data.items():
        if key not in names:
            allowed = ", ".join(sorted(names))
            raise ConfigError(f"{source}: {section}{key}: unknown key; allowed here: {allowed}")
        tp = types[key]
        if dataclasses.is_dataclass(tp):
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: {key} = {_show(value)}: must be a table [{key}]")
            _apply_table(getattr(obj, key), value, source, (*path, key))
        else:
            setattr(obj, key, _coerce(value, tp, f"{source}: {section}{key}", key in secrets))


def _parse_env_value(text: str, tp: Any, where: str, secret: bool = False) -> Any:
    origin = typing.get_origin(tp)
    try:
        if tp is bool:
            lowered = text.strip().lower()
            if lowered in {"1", "true", "yes", "on"}:
                return True
            if lowered in {"0", "false", "no", "off"}:
                return False
            raise ValueError
        if tp is int:
            return int(text)
        if tp is float:
            return float(text)
        if tp is str:
            return text
        if origin is list:
            return [item.strip() for item in text.split(",") if item.strip()]
        if origin is dict:
            pairs = [item.split(":", 1) for item in text.split(",") if item.strip()]
            if any(len(p) != 2 for p in pairs):
                raise ValueError
            return {name.strip(): password for name, password in pairs}
    except ValueError:
        hint = " (as name:password,name2:password2)" if origin is dict else ""
        raise ConfigError(f"{where} = {'***' if secret else repr(text)}: must be {_describe(tp)}{hint}") from None
    raise TypeError(f"unsupported config type {tp!r}")  # pragma: no cover


def _env_targets(config: Config) -> dict[str, tuple[Any, str, Any]]:
    """Map every HEROAGENT_* variable name that is a config key to (object, attribute, type)."""
    targets: dict[str, tuple[Any, str, Any]] = {}

    def walk(obj: Any, prefix: str) -> None:
        types = _field_types(obj)
        for f in _public_fields(obj):
            tp = types[f.name]
            name = f"{prefix}{f.name.upper()}"
            if dataclasses.is_dataclass(tp):
                walk(getattr(obj, f.name), name + "_")
            elif _is_table_array(tp):
                continue  # arrays of tables ([[schedules]]) are set in the file only
            else:
                targets[name] = (obj, f.name, tp)

    walk(config, ENV_PREFIX)
    return targets


def _apply_environment(config: Config, env: Mapping[str, str]) -> None:
    targets = _env_targets(config)
    for name, text in sorted(env.items()):
        if not name.startswith(ENV_PREFIX) or name in _ENV_NOT_KEYS:
            continue
        if name not in targets:
            raise ConfigError(
                f"environment: {name}: not a config key; use HEROAGENT_<SECTION>_<KEY>, "
                "e.g. HEROAGENT_REDIS_TCP_PORT (see `heroagent config show`)"
            )
        obj, attr, tp = targets[name]
        setattr(obj, attr, _parse_env_value(text, tp, f"environment: {name}", attr in _secret_names(obj)))


def to_toml(config: Config, *, hide_secrets: bool = False) -> str:
    """Render the effective config as TOML that `load_config` reads back to the same values; with
    `hide_secrets`, for people to read: the secret settings' values as `hidden` shows them."""
    lines: list[str] = []
    _render_table(config, (), lines, hide_secrets)
    return "\n".join(lines).lstrip("\n") + "\n"


def _render_table(obj: Any, path: tuple[str, ...], lines: list[str], hide_secrets: bool) -> None:
    """Plain keys of this table first, then its sub-tables ([a.b]), then arrays of tables ([[a]])."""
    if path:
        lines += ["", f"[{'.'.join(path)}]"]
    subtables: list[tuple[str, Any]] = []
    arrays: list[tuple[str, list[dict[str, Any]]]] = []
    for f in _public_fields(obj):
        value = getattr(obj, f.name)
        if hide_secrets and f.metadata.get("secret"):
            value = hidden(value, url=f.metadata["secret"] == "url")
        if dataclasses.is_dataclass(value) or isinstance(value, dict):
            subtables.append((f.name, value))
        elif _is_table_array(_field_types(obj)[f.name]):
            arrays.append((f.name, value))
        else:
            lines.append(f"{f.name} = {_toml_value(value)}")
    for name, value in subtables:
        if isinstance(value, dict):
            lines += ["", f"[{'.'.join((*path, name))}]"]
            lines.extend(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items())
        else:
            _render_table(value, (*path, name), lines, hide_secrets)
    for name, tables in arrays:
        for table in tables:
            lines += ["", f"[[{'.'.join((*path, name))}]]"]
            lines.extend(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in table.items())


def _is_table_array(tp: Any) -> bool:
    """A `list[dict[...]]` field: written as [[name]] tables, not settable from the environment."""
    return typing.get_origin(tp) is list and typing.get_origin(typing.get_args(tp)[0]) is dict


def _toml_key(key: str) -> str:
    return key if key and all(c.isalnum() or c in "-_" for c in key) else _toml_value(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
        return f'"{escaped}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):  # an inline table (a [job_types.<name>] table written on one line)
        return "{ " + ", ".join(f"{_toml_key(str(k))} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot render {value!r} as TOML")  # pragma: no cover
