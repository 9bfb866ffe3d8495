"""One table per operation (jobs/live/operations.py): every edge offers what the table declares.

The manager has each operation with the declared signature; the client has each (asked of the server,
or done in Redis by its own method); every API route and CLI command an operation names exists; the
request server answers exactly the declared operations. An edge that drifts from the table fails here.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import click
import pytest

from heroagent.client import JobClient
from heroagent.jobs.live.operations import OPERATIONS, JobOperations, Operation, Via, server_operations
from heroagent.jobs.server import rpc
from heroagent.jobs.server.manager import JobManager
from tests.conftest import make_config

OPS = sorted(OPERATIONS.values(), key=lambda op: op.name)


def shape(signature: inspect.Signature) -> list[tuple[str, object, object, object]]:
    """A signature as (name, kind, default, annotation) per parameter, the return annotation last."""
    params = [(p.name, p.kind, p.default, p.annotation) for p in signature.parameters.values()]
    return [*params, ("return", None, None, signature.return_annotation)]


def test_the_table_is_not_empty_and_names_are_methods() -> None:
    assert len(OPS) >= 30
    assert all(callable(getattr(JobOperations, op.name)) for op in OPS)


@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
def test_the_manager_has_every_operation_with_its_signature(op: Operation) -> None:
    assert shape(inspect.signature(getattr(JobManager, op.name))) == shape(op.signature)


@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
def test_the_client_has_every_operation(op: Operation) -> None:
    method = getattr(JobClient, op.name)
    if op.via is Via.REDIS:
        assert op.name in vars(JobClient), f"JobClient must do {op.name} in Redis itself"
        given = inspect.signature(method).parameters
        assert set(op.signature.parameters) <= set(given) or any(
            p.kind is inspect.Parameter.VAR_KEYWORD for p in given.values()
        ), f"JobClient.{op.name} does not take every declared argument"
    else:
        assert op.name not in vars(JobClient), f"{op.name} is asked of the server: the table's method does it"
        assert shape(inspect.signature(method)) == shape(op.signature)


def test_the_request_server_answers_the_declared_operations_and_no_other() -> None:
    assert server_operations() == rpc.OPERATIONS
    assert "wait_for_job" not in rpc.OPERATIONS  # it waits: the one answering thread must not block
    assert {"get_job", "list_jobs", "cancel_job", "compact_history"} <= rpc.OPERATIONS


def api_rules(tmp_path: Path) -> set[str]:
    """Every route of the real Flask app as "METHOD rule" (an agent built, not started)."""
    from heroagent import HeroAgent
    from heroagent.web import create_app

    app = create_app(HeroAgent(make_config(tmp_path)))
    return {f"{method} {rule.rule}" for rule in app.url_map.iter_rules() for method in rule.methods or ()}


def test_every_api_route_an_operation_names_exists(tmp_path: Path) -> None:
    rules = api_rules(tmp_path)
    missing = [(op.name, route) for op in OPS for route in op.api if route not in rules]
    assert not missing, missing


def cli_command(path: str) -> click.Command | None:
    from heroagent.cli import cli

    command: click.Command | None = cli
    for word in path.split():
        if not isinstance(command, click.Group):
            return None
        command = command.commands.get(word)
    return command


def test_every_cli_command_an_operation_names_exists() -> None:
    missing = [(op.name, path) for op in OPS for path in op.cli if cli_command(path) is None]
    assert not missing, missing


def test_the_checks_can_fail(tmp_path: Path) -> None:
    """A route or command that is not there is reported: the coverage checks above are real."""
    assert "POST /api/jobs/<int:job_id>/explode" not in api_rules(tmp_path)
    assert cli_command("job explode") is None
    wrong = inspect.Signature([inspect.Parameter("job_id", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation="str")])
    assert shape(wrong) != shape(OPERATIONS["cancel_job"].signature)


def test_a_server_operation_checks_its_arguments_before_it_asks() -> None:
    """A wrong call fails at once, as the same call on the manager would, and sends nothing."""
    client = JobClient("redis://127.0.0.1:1/0", timeout=0.1)
    try:
        with pytest.raises(TypeError):
            client.cancel_job(1, 2)  # type: ignore[call-arg]
        with pytest.raises(TypeError):
            client.get_log(1, nope=3)  # type: ignore[call-arg]
    finally:
        client.close()
