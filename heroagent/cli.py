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
def serve(config_path: str | None, log_level: str | None) -> None:
    """Run the appliance in the foreground until SIGINT or SIGTERM."""
    from heroagent.factory import HeroAgent

    setup_logging(log_level)
    config = load_config(config_path)
    agent = HeroAgent(config)
    stop = threading.Event()
    received: list[str] = []

    def on_signal(signum: int, _frame: object) -> None:
        received.append(signal.Signals(signum).name)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    agent.start()
    try:
        click.echo(banner(agent, config.source))
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
        click.echo(f"heroagent: {received[0] if received else 'stop'} received, stopping", err=True)
    finally:
        agent.stop()


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
