"""The `heroagent` command. User mistakes (HeroAgentError) print one line and exit 2, never a traceback."""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

import click

from heroagent import __version__
from heroagent.config import load_config, to_toml
from heroagent.errors import HeroAgentError
from heroagent.logs import setup_logging

EXIT_USER_ERROR = 2

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="TOML config file (default: $HEROAGENT_CONFIG, else built-in defaults).",
)


class HeroGroup(click.Group):
    """Turns HeroAgentError into `error: <message>` on stderr and exit code 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HeroAgentError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(EXIT_USER_ERROR)


@click.group(cls=HeroGroup)
@click.version_option(__version__, prog_name="heroagent")
def cli() -> None:
    """HeroAgent: embedded Redis, WebDAV, a dashboard and a job system in one process."""


@cli.command()
@config_option
@click.option("--log-level", default=None, help="DEBUG, INFO, WARNING or ERROR (default INFO).")
@click.option("--module", "modules", multiple=True, help="Import this Python module of actors (repeatable).")
def serve(config_path: str | None, log_level: str | None, modules: tuple[str, ...]) -> None:
    """Run the appliance in the foreground until SIGINT or SIGTERM."""
    from heroagent.factory import HeroAgent

    setup_logging(log_level)
    config = load_config(config_path)
    config.jobs.modules = [*config.jobs.modules, *modules]
    agent = HeroAgent(config)
    stop, received = stop_on_signals()
    agent.start()
    try:
        click.echo(banner(agent, config.source))
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
        click.echo(f"heroagent: {received[0] if received else 'stop'} received, stopping", err=True)
    finally:
        agent.stop()


def stop_on_signals() -> tuple[threading.Event, list[str]]:
    """SIGINT, SIGTERM and SIGHUP set the returned event (and name themselves in the list)."""
    stop = threading.Event()
    received: list[str] = []

    def on_signal(signum: int, _frame: object) -> None:
        received.append(signal.Signals(signum).name)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    return stop, received


@cli.command()
@config_option
@click.option("--redis", "redis_url", default=None, help="Redis URL (default: the server's, from the config).")
@click.option("--topics", default=None, help="Comma-separated topics to serve (default: [jobs] topics).")
@click.option("--concurrency", type=click.IntRange(1, 1000), default=None, help="Worker threads.")
@click.option("--share", type=click.Path(file_okay=False), default=None, help="Folder scripts run from.")
@click.option("--module", "modules", multiple=True, help="Import this Python module of actors (repeatable).")
@click.option("--log-level", default=None)
def worker(
    config_path: str | None,
    redis_url: str | None,
    topics: str | None,
    concurrency: int | None,
    share: str | None,
    modules: tuple[str, ...],
    log_level: str | None,
) -> None:
    """Run a pool of workers in this process against a HeroAgent's Redis (here or on another machine)."""
    from pathlib import Path

    import redis as redis_lib

    from heroagent.errors import ServiceError
    from heroagent.jobs.actors import import_modules
    from heroagent.jobs.executor import JobExecutor
    from heroagent.jobs.joblog import JobLogs
    from heroagent.jobs.queue import JobQueue
    from heroagent.jobs.service import make_registry
    from heroagent.jobs.worker import WorkerPool

    setup_logging(log_level)
    config = load_config(config_path)
    url = redis_url or config.redis.url or redis_url_for(config)
    import_modules([*config.jobs.modules, *modules])
    client = redis_lib.Redis.from_url(url)
    try:
        client.ping()
    except redis_lib.RedisError as exc:
        raise ServiceError("worker", f"cannot reach Redis at {url}: {exc}; pass --redis URL") from None
    share_root = Path(share) if share else (config.webdav_root if config.webdav_root.exists() else None)
    pool = WorkerPool(
        JobQueue(client),
        JobExecutor(make_registry(), share_root),
        JobLogs(config.logs_dir),
        topics=[t.strip() for t in topics.split(",") if t.strip()] if topics else config.jobs.topics,
        concurrency=concurrency or config.jobs.worker_count,
        poll_interval=config.jobs.queue_poll_interval,
        lease_seconds=config.jobs.lease_seconds,
    )
    stop, _received = stop_on_signals()
    pool.start()
    click.echo(f"heroagent worker {pool.pool_id}: {pool.concurrency} worker(s) on {url.split('@')[-1]}", err=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        pool.stop()


def redis_url_for(config: Any) -> str:
    """The embedded Redis's TCP URL as the config describes it."""
    auth = f":{config.redis.password}@" if config.redis.password else ""
    return f"redis://{auth}{config.redis.host}:{config.redis.tcp_port}/0"


def banner(agent: Any, source: str) -> str:
    lines = [f"HeroAgent {__version__} is running (config: {source})"]
    width = max((len(name) for name in agent.addresses()), default=0)
    for name, address in agent.addresses().items():
        lines.append(f"  {name.ljust(width)}  {address}")
    lines.append("Press Ctrl-C to stop.")
    return "\n".join(lines)


@cli.group(cls=HeroGroup)
def config() -> None:
    """Inspect the configuration."""


@config.command("show")
@config_option
def config_show(config_path: str | None) -> None:
    """Print the effective config (file + environment over defaults) as TOML."""
    click.echo(to_toml(load_config(config_path)), nl=False)


def main() -> None:
    cli(prog_name="heroagent")


if __name__ == "__main__":  # pragma: no cover
    main()
