"""The `heroagent` command. User mistakes (HeroAgentError) print one line and exit 2, never a traceback."""

from __future__ import annotations

import contextlib
import json
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from heroagent._version import __version__
from heroagent.config import load_config, to_toml
from heroagent.errors import ConfigError, HeroAgentError
from heroagent.logs import setup_logging
from heroagent.schema.fields import Schema
from heroagent.schema.filters import DEAD_FILTERS, DEFAULT_LIMIT, EVENT_FILTERS, FILTER_NAMES, JOB_FILTERS
from heroagent.schema.job import ParamsType
from heroagent.schema.schedule import SCHEDULE

if TYPE_CHECKING:
    from heroagent.schedules.book import ScheduleInfo

EXIT_USER_ERROR = 2

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="TOML config file (default: $HEROAGENT_CONFIG, else built-in defaults).",
)


EXIT_STILL_RUNNING = 3  # `job submit --wait --wait-timeout`: the job had not ended when the wait did


class HeroGroup(click.Group):
    """Turns HeroAgentError into `error: <message>` on stderr and exit code 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HeroAgentError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(EXIT_USER_ERROR)


@click.group(cls=HeroGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="heroagent")
def cli() -> None:
    """HeroAgent: embedded Redis, WebDAV, a dashboard and a job system in one process."""


@cli.command()
@config_option
@click.option("--log-level", default=None, help="DEBUG, INFO, WARNING or ERROR (default INFO).")
@click.option("--module", "modules", multiple=True, help="Import this Python module of actors (repeatable).")
def serve(config_path: str | None, log_level: str | None, modules: tuple[str, ...]) -> None:
    """Run the appliance in the foreground until SIGINT or SIGTERM (a second one: stop now, running jobs
    back to their queue)."""
    from heroagent.factory import HeroAgent

    setup_logging(log_level)
    config = load_config(config_path)
    config.jobs.modules = [*config.jobs.modules, *modules]
    agent = HeroAgent(config)
    stop, received = stop_on_signals(again=agent.hurry)
    agent.start()
    try:
        click.echo(banner(agent, config.source))
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
        click.echo(f"heroagent: {received[0] if received else 'stop'} received, stopping", err=True)
    finally:
        agent.stop()


def stop_on_signals(again: Callable[[], None] | None = None) -> tuple[threading.Event, list[str]]:
    """SIGINT, SIGTERM and SIGHUP set the returned event (and name themselves in the list). A second one
    calls `again`: the stop is hurried (running jobs go back to their queue now, not after their grace).
    The handler only sets events: it runs in the main thread, in the middle of whatever the stop does."""
    stop = threading.Event()
    received: list[str] = []

    def on_signal(signum: int, _frame: object) -> None:
        received.append(signal.Signals(signum).name)
        if stop.is_set() and again is not None:
            again()
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    return stop, received


@cli.group(cls=HeroGroup, invoke_without_command=True)
@click.pass_context
@config_option
@click.option("--redis", "redis_url", default=None, help="Redis URL (default: the server's, from the config).")
@click.option(
    "--key-prefix",
    default=None,
    help="The server's [redis] key_prefix, e.g. team-a: (default: the config's; empty: none).",
)
@click.option("--topics", default=None, help="Comma-separated topics to serve (default: [jobs] topics).")
@click.option("--concurrency", type=click.IntRange(1, 1000), default=None, help="Worker threads.")
@click.option("--share", type=click.Path(file_okay=False), default=None, help="Folder scripts run from.")
@click.option("--module", "modules", multiple=True, help="Import this Python module of actors (repeatable).")
@click.option("--id", "name", default=None, help="Name this worker (shown on the overview and on its jobs).")
@click.option(
    "--processes",
    type=click.IntRange(1, 256),
    default=1,
    help="Run this many worker processes (each its own pool, named ID-1...), supervised: one per core.",
)
@click.option("--log-level", default=None)
def worker(
    ctx: click.Context,
    config_path: str | None,
    redis_url: str | None,
    key_prefix: str | None,
    topics: str | None,
    concurrency: int | None,
    share: str | None,
    modules: tuple[str, ...],
    name: str | None,
    processes: int,
    log_level: str | None,
) -> None:
    """Run a pool of workers in this process against a HeroAgent's Redis (here or on another machine);
    `worker list` and `worker drain ID` see and drain the pools. A drained worker process exits."""
    if ctx.invoked_subcommand is not None:
        return
    if name is not None and not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name):
        raise HeroAgentError(f"--id {name[:80]!r}: use 1-64 letters, digits, '_', '.' or '-'")
    from pathlib import Path

    from heroagent.config import key_prefix_problem
    from heroagent.jobs.run.remote import remote_pools
    from heroagent.redis_connect import RedisTarget

    setup_logging(log_level)
    config = load_config(config_path)
    if key_prefix is not None:
        if problem := key_prefix_problem(key_prefix):
            raise HeroAgentError(f"--key-prefix {key_prefix[:80]!r}: {problem}")
        config.redis.key_prefix = key_prefix
    where = RedisTarget.of(config, redis_url).display
    if config.redis.key_prefix:
        where += f" (key prefix {config.redis.key_prefix})"
    if processes > 1:
        options = {
            "--config": config_path,
            "--redis": redis_url,
            "--key-prefix": key_prefix,
            "--topics": topics,
            "--concurrency": None if concurrency is None else str(concurrency),
            "--share": share,
            "--log-level": log_level,
        }
        base = [sys.executable, "-m", "heroagent", "worker"]
        base += [part for flag, value in options.items() if value is not None for part in (flag, value)]
        base += [part for module in modules for part in ("--module", module)]
        _supervise_workers(base, processes, name, where, config.jobs.stop_grace)
        return
    pools = remote_pools(
        config,
        redis_url,
        topics=[t.strip() for t in topics.split(",") if t.strip()] if topics else None,
        concurrency=concurrency,
        share=Path(share) if share else None,
        modules=modules,
        name=name,
    )  # one, or with [redis] partitions one per partition its topics are in

    def hurry() -> None:
        for pool in pools:
            pool.hurry()

    stop, _received = stop_on_signals(again=hurry)
    for pool in pools:
        pool.start()
        click.echo(f"heroagent worker {pool.pool_id}: {pool.concurrency} worker(s) on {where}", err=True)
    try:
        while not stop.wait(0.5):
            if all(pool.drained for pool in pools):
                click.echo(f"heroagent worker {pools[0].pool_id}: drained; exiting", err=True)
                break
    finally:
        stopping = [threading.Thread(target=pool.stop, args=(config.jobs.stop_grace,)) for pool in pools]
        for thread in stopping:
            thread.start()
        for thread in stopping:
            thread.join()


def _supervise_workers(base: list[str], processes: int, name: str | None, where: str, stop_grace: float) -> None:
    """`heroagent worker --processes N`: the supervisor's loop (see jobs/run/fleet.py)."""
    from heroagent.jobs.run.fleet import WorkerProcesses, child_commands

    fleet = WorkerProcesses(child_commands(base, processes, name))
    stop, _received = stop_on_signals(again=fleet.signal_all)
    fleet.start()
    click.echo(f"heroagent worker: {processes} worker processes on {where} (pids {fleet.pids()})", err=True)
    try:
        while not stop.wait(0.5):
            fleet.step()
            if fleet.all_drained:
                click.echo("heroagent worker: every worker process drained; exiting", err=True)
                break
    finally:
        fleet.stop(grace=stop_grace + 10)


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
@click.option("--show-secrets", is_flag=True, help="Print passwords, tokens and the WebDAV users' passwords too.")
def config_show(config_path: str | None, show_secrets: bool) -> None:
    """Print the effective config (file + environment over defaults) as TOML; secrets as ***."""
    click.echo(to_toml(load_config(config_path), hide_secrets=not show_secrets), nl=False)


@cli.group(cls=HeroGroup)
def webhooks() -> None:
    """Webhooks (a job's callback_url, a topic's webhook): what their receivers need."""


@webhooks.command("secret")
@config_option
def webhooks_secret(config_path: str | None) -> None:
    """Print the secret webhooks are signed with (HMAC-SHA256), for a receiver to check their signature."""
    from heroagent.jobs.signing import webhook_secret

    config = load_config(config_path)
    secret = webhook_secret(config, create=False)
    if secret is None:
        raise ConfigError(
            f"no webhook secret yet in {config.webhook_secret_path}: `heroagent serve` makes one at its first start "
            "(or set [jobs] webhook_secret)"
        )
    click.echo(secret)


@cli.group(cls=HeroGroup)
def ourdb() -> None:
    """Maintain an OurDB database (by default the job history of the config's data_dir)."""


def _ourdb_path(config_path: str | None, path: str | None) -> str:
    return path or str(load_config(config_path).jobs_db_path)


@ourdb.command("compact")
@config_option
@click.argument("path", required=False)
def ourdb_compact(config_path: str | None, path: str | None) -> None:
    """Rewrite the data files without deleted and superseded records; every live job keeps its history.

    Crash-safe: a kill part way leaves the old files in use, or the reopen finishes the swap. A running
    server compacts its own history daily at [scheduler] compact_at instead.
    """
    from pathlib import Path

    from heroagent.ourdb import DatabaseLockedError, OurDB, OurDBError
    from heroagent.ourdb.layout import is_database

    where = _ourdb_path(config_path, path)
    if not is_database(Path(where)):
        raise HeroAgentError(
            f"no OurDB database at {where}: give the folder that holds lookup.idx and the <n>.db files "
            "(nothing was created there)"
        )
    try:
        if path is None:  # the job history: through its store, so its index follows the new files
            from heroagent.jobs.history.store import JobStore

            store = JobStore(Path(where))
            try:
                report = store.compact()
            finally:
                store.close()
        else:
            with OurDB(where, id_of=None) as db:
                report = db.compact()
    except DatabaseLockedError as exc:
        raise HeroAgentError(
            f"{exc}. A running server compacts its history itself at [scheduler] compact_at; "
            "to compact now, stop the server first"
        ) from None
    except OurDBError as exc:
        raise HeroAgentError(str(exc)) from None
    click.echo(f"{where}: {report.summary()}")


@ourdb.command("reindex")
@config_option
def ourdb_reindex(config_path: str | None) -> None:
    """Build the job history's index (lists, counts, search) again from the history itself.

    The server keeps the index level on its own (it catches up after a crash, and rebuilds an index
    that is missing or unreadable); this is for an index you no longer trust. Stop the server first."""
    from pathlib import Path

    from heroagent.jobs.history.store import JobStore, job_id_of
    from heroagent.ourdb import DatabaseLockedError, OurDB, OurDBError
    from heroagent.ourdb.layout import is_database

    where = Path(_ourdb_path(config_path, None))
    if not is_database(where):
        raise HeroAgentError(f"no job history at {where} (nothing was created there)")
    try:  # the history's writer lock first: a running server keeps its index
        probe = OurDB(where, id_of=job_id_of)
    except DatabaseLockedError as exc:
        raise HeroAgentError(f"{exc}. Stop the server to rebuild its index") from None
    except OurDBError as exc:
        raise HeroAgentError(str(exc)) from None
    index_path = JobStore.index_path_of(where)
    try:  # the old index is not read at all (it may be damaged): it is set aside, and built anew at open
        aside = index_path.with_name(index_path.name + ".old")
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                Path(str(index_path) + suffix).replace(Path(str(aside) + suffix))
    finally:
        probe.close()
    started = time.monotonic()
    store = JobStore(where)
    try:
        click.echo(f"{store.index_path}: indexed {len(store.index)} job(s) in {time.monotonic() - started:.1f} s")
    finally:
        store.close()
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            Path(str(aside) + suffix).unlink()


@ourdb.command("check")
@config_option
@click.argument("path", required=False)
@click.option("--fix", is_flag=True, help="Acknowledge the damage shown, so health is no longer degraded by it.")
def ourdb_check(config_path: str | None, path: str | None, fix: bool) -> None:
    """Verify every record's CRC and history links (read-only; works while a server runs), and show what
    recoveries lost (health is degraded by it until --fix acknowledges it)."""
    from heroagent.ourdb.__main__ import run_check

    code = run_check(_ourdb_path(config_path, path), fix=fix)
    if code:
        raise SystemExit(code)


@ourdb.command("import")
@click.argument("path")
@click.option("--export", "export", default=None, help="herolib's lookup export (default: the file beside its .inc).")
@click.option("--keysize", type=click.Choice(["2", "3", "4", "6"]), default=None, help="The export's key size.")
def ourdb_import(path: str, export: str | None, keysize: str | None) -> None:
    """Make a folder herolib wrote (its <n>.db files, perhaps its lookup export) a HeroAgent OurDB.

    Only reads herolib's data files; writes lookup.idx and ourdb.json beside them once every record was
    read and CRC-checked. Refuses (and says where) when deleted records make the ids ambiguous.
    """
    from heroagent.ourdb.__main__ import run_import

    code = run_import(path, export, int(keysize) if keysize else None)
    if code:
        raise SystemExit(code)


@cli.group(cls=HeroGroup)
def job() -> None:
    """Submit and inspect jobs on a running server (found through the same config)."""


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


def _client(config_path: str | None) -> Any:
    from heroagent.client import JobClient

    return JobClient.from_config(load_config(config_path))


def _print_jobs(jobs: list[Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps([j.to_api() for j in jobs], indent=2))
        return
    click.echo(f"{'ID':>7}  {'STATUS':8}  {'TOPIC':16}  {'TYPE':10}  {'CREATED':19}  RESULT / ERROR")
    for j in jobs:
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(j.time_created))
        outcome = (j.error or _result_text(j, indent=None)).replace("\n", " ")
        click.echo(
            f"{j.job_id:>7}  {j.status.value:8}  {j.topic[:16]:16}  {j.params_type.value:10}  {created}  {outcome[:60]}"
        )


def _result_text(j: Any, indent: int | None = 2) -> str:
    """A job's result as the CLI shows it: text as it is, a JSON value as JSON ('' for none)."""
    value = j.result
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, indent=indent, ensure_ascii=False)


def _print_job(j: Any, as_json: bool) -> None:
    from heroagent.jobs.model import API_ALIASES

    if as_json:
        click.echo(json.dumps(j.to_api(), indent=2))
        return
    for key, value in j.to_api().items():
        if key in API_ALIASES:
            continue  # the old names, kept in --json for one release only
        if key == "result":
            value = _result_text(j)
        if key.startswith("time_") and value:
            value = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(value)) + f" ({value:.3f})"
        text = str(value)
        if "\n" in text:
            text = "\n    " + text.replace("\n", "\n    ")
        click.echo(f"{key:15} {text}")


@job.command("submit")
@config_option
@click.argument("topic")
@click.argument("params", required=False)
@click.option(
    "--type",
    "params_type",
    type=click.Choice([p.value for p in ParamsType]),
    default=None,
    help="How PARAMS are read: heroscript (default), json (the default when PARAMS start with '{'), "
    "rhaiscript, openrpc, ai.",
)
@click.option("--action", default=None, help="A json job's action (actor.action); default its topic's handler.")
@click.option("--script", "script", default=None, help="Read params from this file of the WebDAV share.")
@click.option("--timeout", type=float, default=None, help="Seconds (default: [jobs] default_timeout).")
@click.option("--log", "keep_log", is_flag=True, help="Keep a log of this job.")
@click.option(
    "--max-retries", type=click.IntRange(min=0), default=None, help="Retries after a failed attempt ([jobs] default)."
)
@click.option(
    "--retry-delay",
    type=click.FloatRange(min=0),
    default=None,
    help="Seconds before the first retry; doubles each time.",
)
@click.option("--at", "run_at", default=None, help="Run at this time, ISO 8601 (2026-12-01T08:00:00Z).")
@click.option("--in", "delay", type=float, default=None, help="Run this many seconds from now.")
@click.option(
    "--key",
    "idempotency_key",
    default=None,
    help="Idempotency key: submitting again with the same key gives the first job, never a second one.",
)
@click.option("--circle-id", "--circle", "circle_id", default="", help="The circle the job belongs to.")
@click.option("--session-key", "--session", "session_key", default="", help="The caller's session key.")
@click.option("--tenant-id", "--tenant", "tenant_id", default="", help="The tenant the job is for.")
@click.option("--user-id", "--user", "user_id", default="", help="The user who makes the job.")
@click.option("--group", "group", default="", help="A group of jobs that belong together.")
@click.option("--priority", type=int, default=None, help="0-9, 9 the most urgent (default 0 or the job type's).")
@click.option("--no-overlap-key", default=None, help="Jobs with the same key never run at the same time.")
@click.option("--overlap-delay", type=float, default=None, help="Seconds the key stays held after this job ends.")
@click.option(
    "--depends-on", default=None, help="Ids of jobs that must end done first, as 12,13 (it waits until then)."
)
@click.option(
    "--on-parent-failure",
    type=click.Choice(["cancel", "skip", "run"]),
    default=None,
    help="When a job it depends on fails: cancel (default), skip, or run anyway.",
)
@click.option("--callback-url", default=None, help="A URL that receives the job's final state (a signed webhook).")
@click.option("--wait", is_flag=True, help="Wait until the job is finished and print it; exit 1 if it failed.")
@click.option(
    "--wait-timeout",
    type=click.FloatRange(min=0, max=1e9),
    default=None,
    help="Give up waiting after this many seconds (exit 3; the job goes on).",
)
@json_option
def job_submit(
    config_path: str | None,
    topic: str,
    params: str | None,
    params_type: str | None,
    action: str | None,
    script: str | None,
    timeout: float | None,
    keep_log: bool,
    max_retries: int | None,
    retry_delay: float | None,
    run_at: str | None,
    delay: float | None,
    idempotency_key: str | None,
    circle_id: str,
    session_key: str,
    tenant_id: str,
    user_id: str,
    group: str,
    priority: int | None,
    no_overlap_key: str | None,
    overlap_delay: float | None,
    depends_on: str | None,
    on_parent_failure: str | None,
    callback_url: str | None,
    wait: bool,
    wait_timeout: float | None,
    as_json: bool,
) -> None:
    """Submit a job: PARAMS as text, `-` for stdin, or --script scripts/x.hero from the share."""
    from heroagent.errors import HeroAgentError as UserError
    from heroagent.jobs.errors import JobFailed
    from heroagent.jobs.share_paths import resolve_in_share

    config = load_config(config_path)
    if script is not None:
        if params is not None:
            raise UserError("give PARAMS or --script, not both")
        try:
            params = resolve_in_share(config.webdav_root, script).read_text()
        except JobFailed as exc:
            raise UserError(str(exc)) from None
    elif params == "-":
        params = sys.stdin.read()
    if params is None:
        raise UserError("give the job's PARAMS (or - to read them from stdin, or --script PATH)")
    from heroagent.client import JobClient

    client = JobClient.from_config(config)
    created = client.create_job(
        topic,
        params,
        params_type=params_type,
        action=action,
        timeout=timeout,
        log=keep_log,
        max_retries=max_retries,
        retry_delay=retry_delay,
        run_at=run_at,
        delay=delay,
        idempotency_key=idempotency_key,
        circle_id=circle_id,
        session_key=session_key,
        tenant_id=tenant_id,
        user_id=user_id,
        group=group,
        priority=priority,
        no_overlap_key=no_overlap_key,
        overlap_delay=overlap_delay,
        depends_on=depends_on,
        on_parent_failure=on_parent_failure,
        callback_url=callback_url,
    )
    if not wait:
        _print_job(created, as_json) if as_json else click.echo(created.job_id)
        return
    try:
        final = client.wait_for_job(created.job_id, timeout=wait_timeout)
    except TimeoutError as exc:  # the job goes on: say so in one line, and which exit code means it
        click.echo(f"error: {exc}; it goes on (heroagent job get {created.job_id})", err=True)
        sys.exit(EXIT_STILL_RUNNING)
    _print_job(final, as_json)
    if final.status.value != "done":
        sys.exit(1)


@job.command("get")
@config_option
@click.argument("job_id", type=int, required=False)
@click.option("--key", "idempotency_key", default=None, help="The job created with this idempotency key instead.")
@json_option
def job_get(config_path: str | None, job_id: int | None, idempotency_key: str | None, as_json: bool) -> None:
    """Show one job (live state, or its final state from the history), by id or by --key."""
    if (job_id is None) == (idempotency_key is None):
        raise HeroAgentError("give a JOB_ID or --key KEY (one of them)")
    client = _client(config_path)
    found = client.get_job(job_id) if job_id is not None else client.get_job_by_idempotency_key(str(idempotency_key))
    _print_job(found, as_json)


def _read_specs(source: str, what: str) -> Any:
    """JSON from a file, `-` (stdin), or the text itself when it starts with '[' or '{'."""
    from heroagent.errors import HeroAgentError as UserError

    text = sys.stdin.read() if source == "-" else source
    if source != "-" and not source.lstrip().startswith(("[", "{")):
        try:
            text = Path(source).read_text()
        except OSError as exc:
            raise UserError(f"{what}: cannot read {source!r}: {exc.strerror or exc}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UserError(f"{what}: not JSON ({exc}); give a file, - for stdin, or the JSON itself") from None


def _print_workflow(flow: Any, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(flow.to_api(), indent=2))
        return
    click.echo(f"group {flow.group}: {len(flow.jobs)} job(s)")
    _print_jobs(flow.jobs + ([flow.on_complete] if flow.on_complete else []), False)


@job.command("chain")
@config_option
@click.argument("jobs")
@click.option("--group", "group", default=None, help="The chain's id (default: a new one, g-<hex>).")
@json_option
def job_chain(config_path: str | None, jobs: str, group: str | None, as_json: bool) -> None:
    """Create jobs that run one after the other. JOBS: a JSON list of jobs (as `job submit --json` prints
    them: topic, params, ...), from a file, - for stdin, or the JSON itself."""
    _print_workflow(_client(config_path).chain(_read_specs(jobs, "JOBS"), group=group), as_json)


@job.command("group-submit")
@config_option
@click.argument("jobs")
@click.option("--on-complete", "on_complete", default=None, help="A job (JSON, a file or -) run once all have ended.")
@click.option("--group", "group", default=None, help="The group's id (default: a new one, g-<hex>).")
@json_option
def job_group_submit(
    config_path: str | None, jobs: str, on_complete: str | None, group: str | None, as_json: bool
) -> None:
    """Create jobs that run side by side, and a callback job run once when every one has ended. JOBS: a
    JSON list of jobs, from a file, - for stdin, or the JSON itself."""
    callback = _read_specs(on_complete, "--on-complete") if on_complete is not None else None
    flow = _client(config_path).group(_read_specs(jobs, "JOBS"), on_complete=callback, group=group)
    _print_workflow(flow, as_json)


@job.command("group")
@config_option
@click.argument("group")
@json_option
def job_group(config_path: str | None, group: str, as_json: bool) -> None:
    """Show a chain's or group's jobs counted by status, and its callback (jm.chain, jm.group)."""
    summary = _client(config_path).get_group(group)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    callback = summary.get("on_complete")
    click.echo(
        f"group {summary['group']}: {summary['ended']} of {summary['total']} ended, {summary['running']} running"
    )
    counts = ", ".join(
        f"{k} {v}" for k, v in summary.items() if isinstance(v, int) and v and k not in ("total", "ended")
    )
    click.echo(f"  {counts or 'no jobs yet'}")
    if callback:
        click.echo(f"  on_complete: job {callback['job_id']} ({callback['status']})")


def schema_options(
    schema: Schema, names: Iterable[str], defaults: Mapping[str, Any] | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Options generated from an input's one description (schema/): `--circle-id` for circle_id, typed by
    the field's kind, with its description as help; a boolean is a flag. Not given = None (the schema's
    own default applies), unless `defaults` names one."""
    fields = [f for f in schema.fields if f.name in set(names)]
    given = dict(defaults or {})

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        for f in reversed(fields):
            flag = f"--{f.name.replace('_', '-')}"
            described = f.description or f.name.replace("_", " ")
            help_text = described[:1].upper() + described[1:]
            if f.enum:
                help_text += f" ({', '.join(f.enum)})"
            if f.kind == "boolean":
                option = click.option(flag, f.name, is_flag=True, default=None, help=help_text)
            else:
                kind: Any = {"integer": int, "number": float}.get(f.kind, str)
                option = click.option(flag, f.name, type=kind, default=given.get(f.name), help=help_text)
            command = option(command)
        return command

    return decorate


@job.command("list")
@config_option
@schema_options(JOB_FILTERS, FILTER_NAMES, {"limit": DEFAULT_LIMIT})
@json_option
def job_list(config_path: str | None, as_json: bool, **filters: Any) -> None:
    """List jobs, newest first, from the whole history."""
    jobs = _client(config_path).list_jobs(**{k: v for k, v in filters.items() if v is not None})
    _print_jobs(jobs, as_json)


@job.command("cancel")
@config_option
@click.argument("job_id", type=int)
@json_option
def job_cancel(config_path: str | None, job_id: int, as_json: bool) -> None:
    """Cancel a queued job (it never runs) or stop a running one."""
    _print_job(_client(config_path).cancel_job(job_id), as_json)


@job.command("suspend")
@config_option
@click.argument("job_id", type=int)
@json_option
def job_suspend(config_path: str | None, job_id: int, as_json: bool) -> None:
    """Pause a running job (its processes stopped, or its actor at a checkpoint); its timeout clock stops."""
    _print_job(_client(config_path).suspend_job(job_id), as_json)


@job.command("resume")
@config_option
@click.argument("job_id", type=int)
@json_option
def job_resume(config_path: str | None, job_id: int, as_json: bool) -> None:
    """Let a suspended job go on."""
    _print_job(_client(config_path).resume_job(job_id), as_json)


@job.command("logs")
@config_option
@click.argument("job_id", type=int)
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines until the job has ended.")
def job_logs(config_path: str | None, job_id: int, follow: bool) -> None:
    """Print the log of a job submitted with --log (--follow: as it grows, until the job ends)."""
    client = _client(config_path)
    text = client.get_log(job_id)
    click.echo(text, nl=False)
    offset = len(text.encode())
    while follow:
        ended = client.get_job(job_id).terminal
        more = client.get_log(job_id, offset)
        if more:
            click.echo(more, nl=False)
            offset += len(more.encode())
        if ended and not more:
            return
        time.sleep(0.5)


@job.command("watch")
@config_option
@schema_options(EVENT_FILTERS, EVENT_FILTERS.names())
@click.option("--url", default=None, help="The dashboard's address (default: [ui] host and port of the config).")
@json_option
def job_watch(config_path: str | None, url: str | None, as_json: bool, **filters: Any) -> None:
    """Print job state changes as the server records them, one line each (JSON lines with --json), until
    Ctrl-C. Follows the server's event stream (GET /api/events) with [ui] api_token; after a dropped
    connection it resumes where it was."""
    from heroagent.watch import EventWatcher, api_url

    config = load_config(config_path)
    watcher = EventWatcher(
        (url or api_url(config)).rstrip("/"),
        config.ui.api_token,
        {k: v for k, v in filters.items() if v is not None},
        note=lambda line: click.echo(f"watch: {line}", err=True),
    )
    try:
        for event in watcher.events():
            if as_json:
                click.echo(json.dumps({"event": event.kind, "id": event.id, **event.data}, ensure_ascii=False))
            elif event.kind == "job":
                click.echo(_event_line(event.data))
            elif event.kind == "reset":
                click.echo(f"watch: events may be missing: {event.data.get('reason', '')}", err=True)
            sys.stdout.flush()
    except KeyboardInterrupt:
        return


def _event_line(data: Mapping[str, Any]) -> str:
    """A job event as `job watch` prints it: time, job, version, topic, status (group, attempts, error)."""
    when = float(data.get("updated_at") or 0)
    shown = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(when)) + f".{int(when * 1000) % 1000:03d}"
    line = f"{shown}  {data.get('job_id', '?'):>7}  v{data.get('version', 0):<3} {str(data.get('topic', ''))[:16]:16}  "
    line += f"{data.get('status', '')}"
    if data.get("group"):
        line += f"  group {data['group']}"
    if int(data.get("attempts") or 0) > 1:
        line += f"  attempt {data['attempts']}"
    if data.get("error"):
        line += "  " + str(data["error"]).replace("\n", " ")[:120]
    return line


@job.command("retry")
@config_option
@click.argument("job_id", type=int)
@json_option
def job_retry(config_path: str | None, job_id: int, as_json: bool) -> None:
    """Queue a finished job again as a new attempt (its earlier attempts stay in its history)."""
    _print_job(_client(config_path).retry_job(job_id), as_json)


@job.command("delete")
@config_option
@click.argument("job_id", type=int)
def job_delete(config_path: str | None, job_id: int) -> None:
    """Remove a finished or waiting job from Redis and the history (cancel a running one first)."""
    _client(config_path).delete_job(job_id)
    click.echo(f"deleted job {job_id}")


@job.group("dead", cls=HeroGroup)
def job_dead() -> None:
    """Dead jobs: ended in error with no retries left (list them; queue them again once the cause is fixed)."""


@job_dead.command("list")
@config_option
@schema_options(JOB_FILTERS, DEAD_FILTERS, {"limit": DEFAULT_LIMIT})
@json_option
def job_dead_list(config_path: str | None, as_json: bool, **filters: Any) -> None:
    """Dead jobs, newest first."""
    _print_jobs(_client(config_path).list_dead(**{k: v for k, v in filters.items() if v is not None}), as_json)


@job_dead.command("retry")
@config_option
@click.option("--topic", default=None, help="Only this topic's.")
@json_option
def job_dead_retry(config_path: str | None, topic: str | None, as_json: bool) -> None:
    """Queue every dead job again (of one topic with --topic), each as a new attempt."""
    retried = _client(config_path).retry_dead(topic=topic)
    if as_json:
        click.echo(json.dumps([j.job_id for j in retried]))
        return
    click.echo(f"queued {len(retried)} dead job(s) again")


@job.command("history")
@config_option
@click.argument("job_id", type=int)
@json_option
def job_history(config_path: str | None, job_id: int, as_json: bool) -> None:
    """Every stored version of a job, oldest first: its timeline."""
    versions = _client(config_path).get_history(job_id)
    if as_json:
        click.echo(json.dumps([v.to_api() for v in versions], indent=2))
        return
    for v in versions:
        when = v.updated_at or v.time_end or v.time_start or v.time_created  # each version's own time
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(when))
        detail = (v.error or _result_text(v, indent=None)).replace("\n", " ")
        click.echo(f"{stamp}  {v.status.value:8}  attempt {v.attempts}  {v.worker}  {detail[:80]}".rstrip())


def _list_workers(config_path: str | None, as_json: bool) -> None:
    found = _client(config_path).list_workers()
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    click.echo(f"{'WORKER':40} {'HOST':20} {'RUNNING':>8}  {'STATE':9} TOPICS")
    for pool in found:
        running = len([x for x in pool.get("running", "").split(",") if x])
        state = pool.get("state", "serving")
        click.echo(f"{pool['id']:40} {pool.get('host', ''):20} {running:>8}  {state:9} {pool.get('topics', '')}")


@cli.command("workers")
@config_option
@json_option
def workers(config_path: str | None, as_json: bool) -> None:
    """Every worker pool that reported in the last 30 s (the server's and `heroagent worker`s), from Redis."""
    _list_workers(config_path, as_json)


@worker.command("list")
@config_option
@json_option
def worker_list(config_path: str | None, as_json: bool) -> None:
    """Every worker pool that reported in the last 30 s (the same as `heroagent workers`)."""
    _list_workers(config_path, as_json)


@worker.command("drain")
@config_option
@click.argument("worker_id")
@click.option("--resume", is_flag=True, help="Serve again instead (a pool still draining).")
def worker_drain(config_path: str | None, worker_id: str, resume: bool) -> None:
    """Drain WORKER_ID (from `worker list`): it claims nothing more, hands back what it had not started and
    finishes what runs; a `heroagent worker` process then exits."""
    client = _client(config_path)
    if resume:
        client.resume_worker(worker_id)
        click.echo(f"{worker_id}: serves again")
    else:
        client.drain_worker(worker_id)
        click.echo(f"{worker_id}: draining (it acts on it within a few seconds)")


@cli.group(cls=HeroGroup)
def queue() -> None:
    """See and control topics (queues) on a running server: list, pause, resume, drain, clear, cancel-all,
    limit, remove."""


@queue.command("list")
@config_option
@json_option
def queue_list(config_path: str | None, as_json: bool) -> None:
    """Every topic: waiting, in flight, scheduled, and whether it is paused or draining."""
    client = _client(config_path)
    stats: dict[str, dict[str, Any]] = client.queue_stats()
    limits = client.topic_limits()
    for topic, q in stats.items():
        q.update(limits.get(topic, {"max_running": None, "rate": None}))
    if as_json:
        click.echo(json.dumps(stats, indent=2))
        return
    click.echo(f"{'TOPIC':24} {'WAITING':>8} {'RUNNING':>8} {'LATER':>8}  {'STATE':16} LIMITS")
    for topic, q in sorted(stats.items()):
        state = " ".join(s for s in ("paused", "draining") if q.get(s)) or "running"
        click.echo(f"{topic:24} {q['queued']:8} {q['inflight']:8} {q['scheduled']:8}  {state:16} {_limits_text(q)}")


def _limits_text(limits: dict[str, Any]) -> str:
    parts = []
    if limits.get("max_running") is not None:
        parts.append(f"max_running {limits['max_running']}")
    if limits.get("rate"):
        parts.append(f"rate {limits['rate']}")
    return ", ".join(parts) or "-"


@queue.command("limit")
@config_option
@click.argument("topic")
@click.option("--max-running", type=int, default=None, help="At most N of TOPIC's jobs run at once (all workers).")
@click.option("--rate", default=None, help='At most this many start per period: "100/minute", "5/second", "10/30s".')
@click.option("--create", is_flag=True, help="Limit TOPIC even if it has never had a job (else an error).")
@json_option
def queue_limit(
    config_path: str | None, topic: str, max_running: int | None, rate: str | None, create: bool, as_json: bool
) -> None:
    """Limit TOPIC over every worker; jobs over a limit wait. Without options: remove its limits.

    Set in Redis directly (no server needed); [topics.TOPIC] in the config sets them again at each start."""
    result = _client(config_path).set_topic_limits(topic, max_running=max_running, rate=rate, create=create)
    if as_json:
        click.echo(json.dumps(result))
        return
    click.echo(f"{topic}: limits {_limits_text(result)}")


def _queue_action(action: str, help_text: str) -> None:
    @queue.command(action, help=help_text)
    @config_option
    @click.argument("topic")
    @click.option("--create", is_flag=True, help="Act on TOPIC even if it has never had a job (else an error).")
    @json_option
    def run(config_path: str | None, topic: str, create: bool, as_json: bool) -> None:
        result = _client(config_path).control_topic(topic, action, create=create)
        if as_json:
            click.echo(json.dumps(result))
            return
        state = " ".join(s for s in ("paused", "draining") if result.get(s)) or "running"
        done = f"; {result['canceled']} waiting job(s) canceled" if "canceled" in result else ""
        done += f", {result['stopping']} running asked to stop" if result.get("stopping") else ""
        click.echo(f"{topic}: {state}{done}")


_queue_action("pause", "Queued jobs of TOPIC wait until it is resumed (running ones finish).")
_queue_action("resume", "TOPIC runs and takes new jobs again (ends a pause and a drain).")
_queue_action("drain", "TOPIC takes no new jobs (creates fail) while its queued jobs still run.")
_queue_action("clear", "Cancel TOPIC's waiting jobs, each recorded as canceled with the reason.")
_queue_action("cancel-all", "Cancel TOPIC's waiting jobs and ask its running ones to stop.")


@queue.command("remove")
@config_option
@click.argument("topic")
def queue_remove(config_path: str | None, topic: str) -> None:
    """Remove TOPIC from the queue list (its queue, pause, drain and limits) when nothing is left in it: nothing
    queued, running or scheduled (cancel-all first). Its finished jobs stay in the history."""
    _client(config_path).remove_topic(topic)
    click.echo(f"{topic}: removed")


@cli.group(cls=HeroGroup)
def upkeep() -> None:
    """Upkeep of a running server's history by hand: cleanup (retention) with --dry-run."""


@upkeep.command("cleanup")
@config_option
@click.option(
    "--older-than", "days", type=float, default=None, help="Days since a job ended (default [jobs] history_days)."
)
@click.option("--dry-run", is_flag=True, help="Only say what would be removed.")
@json_option
def upkeep_cleanup(config_path: str | None, days: float | None, dry_run: bool, as_json: bool) -> None:
    """Remove finished jobs (and their logs) that ended more than --older-than days ago, as the hourly
    retention does with [jobs] history_days; --dry-run lists what would go and removes nothing."""
    config = load_config(config_path)
    if days is None:
        if not config.jobs.history_days:
            raise click.UsageError("[jobs] history_days is 0 (jobs are kept for ever): give --older-than DAYS")
        days = config.jobs.history_days
    result = _client(config_path).cleanup_history(days, dry_run=dry_run)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    verb = "would remove" if dry_run else "removed"
    click.echo(f"{verb} {result['jobs']} finished job(s) that ended before {_when(result['cutoff'])}")
    for label in ("by_status", "by_topic"):
        if result[label]:
            parts = ", ".join(f"{k} {v}" for k, v in sorted(result[label].items(), key=lambda kv: -kv[1])[:10])
            click.echo(f"  {label.replace('_', ' ')}: {parts}")
    if result["first_ids"]:
        click.echo(f"  first ids: {' '.join(str(i) for i in result['first_ids'])}")


@upkeep.command("compact")
@config_option
def upkeep_compact(config_path: str | None) -> None:
    """Compact a running server's history files now (it does so daily at [scheduler] compact_at)."""
    from heroagent.client import JobClient

    config = load_config(config_path)
    click.echo(JobClient.from_config(config, timeout=3600).compact_history())


@cli.group(cls=HeroGroup)
def schedule() -> None:
    """See and change schedules (recurring jobs) through the appliance's Redis: list, add, pause, resume,
    remove. The server picks changes up at once."""


@contextlib.contextmanager
def _schedules(config_path: str | None, *, run_now: bool = False) -> Iterator[Any]:
    """The schedules through the appliance's Redis; with `run_now`, able to make a run's job (a JobClient)."""
    import redis

    from heroagent.client import JobClient, ServerUnavailableError
    from heroagent.redis_connect import RedisTarget, request_options
    from heroagent.schedules.control import Schedules

    config = load_config(config_path)
    target = RedisTarget.of(config)
    client = target.client(**request_options())
    jobs = JobClient.from_config(config) if run_now else None
    submit = (lambda s: jobs.create_jobs([s.job_spec()])[0].job_id) if jobs is not None else None
    try:
        yield Schedules.connect(config, client, submit)
    except redis.RedisError as exc:
        raise ServerUnavailableError(f"{target.unreachable(exc)}; is `heroagent serve` running?") from None
    finally:
        client.close()
        if jobs is not None:
            jobs.close()


def _when(stamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp)) if stamp else "-"


def _echo_schedule(info: ScheduleInfo, as_json: bool) -> None:
    """A schedule just added or changed: as JSON, or when it runs next."""
    if as_json:
        click.echo(json.dumps(info.to_dict(), indent=2))
        return
    click.echo(f"schedule {info.schedule.name}: {info.schedule.describe()}, next run {_when(info.next_run)}")


@schedule.command("list")
@config_option
@json_option
def schedule_list(config_path: str | None, as_json: bool) -> None:
    """Every schedule: when it runs, its next and last run, and whether its last job failed."""
    with _schedules(config_path) as schedules:
        found = schedules.list()
        if as_json:
            click.echo(json.dumps([info.to_dict() for info in found], indent=2))
            return
        click.echo(f"{'NAME':24} {'SOURCE':8} {'STATE':7} {'WHEN':24} {'NEXT RUN':19}  LAST")
        for info in found:
            s = info.schedule
            state = "paused" if info.paused else "on"
            last = f"job {info.state.last_job}" if info.state.last_job else "-"
            if info.state.last_error:
                last += f" (error: {info.state.last_error[:60]})"
            click.echo(
                f"{s.name[:24]:24} {s.source:8} {state:7} {s.describe()[:24]:24} {_when(info.next_run):19}  {last}"
            )


@schedule.command("add")
@config_option
@click.argument("name")
@schema_options(SCHEDULE, [f.name for f in SCHEDULE.fields if f.name not in ("name", "enabled")])
@click.option("--paused", is_flag=True, help="Add it paused.")
@json_option
def schedule_add(config_path: str | None, name: str, as_json: bool, paused: bool, **fields: Any) -> None:
    """Add a schedule NAME (kept across restarts); its jobs are checked now, like a job's."""
    with _schedules(config_path) as schedules:
        given = {k: v for k, v in fields.items() if v is not None}
        info = schedules.add_from({"name": name, **given, "enabled": not paused})
        _echo_schedule(info, as_json)


@schedule.command("edit")
@config_option
@click.argument("name")
@schema_options(SCHEDULE, [f.name for f in SCHEDULE.fields if f.name not in ("name", "enabled")])
@json_option
def schedule_edit(config_path: str | None, name: str, as_json: bool, **fields: Any) -> None:
    """Change the run-time schedule NAME: the options given replace its fields, the others stay; its state
    (paused, runs, jobs) stays too. Config schedules are changed in the config."""
    with _schedules(config_path) as schedules:
        current = {k: v for k, v in schedules.book.get(name).to_dict().items() if k != "source"}
        if fields.get("every") is not None:
            current.pop("cron", None)  # one of the two says when
        if fields.get("cron") is not None:
            current.pop("every", None)
        info = schedules.replace(name, {**current, **{k: v for k, v in fields.items() if v is not None}})
        _echo_schedule(info, as_json)


@schedule.command("run")
@config_option
@click.argument("name")
def schedule_run(config_path: str | None, name: str) -> None:
    """Make NAME's job now, counted as one of its runs (its next run stays); a paused schedule too."""
    with _schedules(config_path, run_now=True) as schedules:
        job_id = schedules.run_now(name)
    click.echo(f"schedule {name}: job {job_id}")


def _schedule_action(action: str, help_text: str) -> None:
    @schedule.command(action, help=help_text)
    @config_option
    @click.argument("name")
    def run(config_path: str | None, name: str) -> None:
        with _schedules(config_path) as schedules:
            if action == "remove":
                schedules.remove(name)
                click.echo(f"schedule {name}: removed")
                return
            info = getattr(schedules, action)(name)
            click.echo(f"schedule {name}: {'paused' if info.paused else 'on, next run ' + _when(info.next_run)}")


_schedule_action("pause", "Stop NAME from making jobs until it is resumed (kept across restarts).")
_schedule_action("resume", "Let NAME make jobs again.")
_schedule_action("remove", "Remove the run-time schedule NAME (config ones can only be paused).")


def main() -> None:
    cli(prog_name="heroagent")


if __name__ == "__main__":  # pragma: no cover
    main()
