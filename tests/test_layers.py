"""The layering rules of docs/architecture.md ("Layers"), checked on the source with an ast walk.

Each part of the package has a floor; a part may import only parts on lower floors. Inside the job
system, each wing (by who runs the code) has a floor too: root < live < {run, history} < server, and
run and history never import each other. The top-level `heroagent` package is lazy and may be
imported only for `__version__`. Flask and its kin are the web layer's alone. A fresh interpreter
importing the small parts loads no web stack, and a client loads no server.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from tests.conftest import REPO, run_python

PACKAGE = REPO / "heroagent"

# floor -> the parts on it (a part: a top-level module or a subpackage of heroagent)
FLOORS: list[set[str]] = [
    {
        "errors",
        "lazy",
        "logs",
        "resources",
        "service",
        "hosts",
        "throttle",
        "pidlock",
        "redaction",
        "procs",
        "threadnames",
        "_version",
    },
    # loops names its threads to the OS (threadnames); secret_files raises errors' ServiceError
    {"net", "heroscript", "ourdb", "lockfile", "loops", "secret_files", "redis_cluster"},
    {"schema"},
    {"config"},
    {"http_server", "redis_connect", "watch"},
    {"redis_server"},
    {"webdav", "jobs"},
    {"client"},
    {"schedules"},
    {"web"},
    {"factory"},
    {"cli"},
    {"__main__"},
]
FLOOR = {part: number for number, parts in enumerate(FLOORS) for part in parts}
WEB_ONLY = {"flask", "werkzeug", "htmx_flask", "jinja2"}

# The job system's wings (heroagent/jobs/<wing>/; "root" is heroagent/jobs/*.py) and their floors: a
# wing imports its own and lower floors only, so run and history (one floor) never import each other.
WING_FLOORS: list[set[str]] = [{"root"}, {"live"}, {"run", "history"}, {"server"}]
WING_FLOOR = {wing: number for number, wings in enumerate(WING_FLOORS) for wing in wings}


def part_of(module: str) -> str:
    """'heroagent.jobs.live.queue' -> 'jobs'; 'heroagent.cli' -> 'cli'; 'heroagent' -> ''."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def wing_of(module: str) -> str | None:
    """'heroagent.jobs.live.queue' -> 'live'; 'heroagent.jobs.model' or 'heroagent.jobs' -> 'root'; None
    outside the job system. A name not a wing under jobs/ is a root module."""
    parts = module.split(".")
    if parts[:2] != ["heroagent", "jobs"]:
        return None
    return parts[2] if len(parts) > 2 and parts[2] in WING_FLOOR else "root"


def module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    names = list(rel.parts)
    if names[-1] == "__init__":
        names.pop()
    return ".".join(names)


def imports(source: str, path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, imported module, names taken from it) for every import in `source` (the text of `path`)."""
    found: list[tuple[int, str, list[str]]] = []
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    for node in ast.walk(ast.parse(source, str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((node.lineno, base, [alias.name for alias in node.names]))
    return found


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_every_part_has_a_floor() -> None:
    parts = {part_of(module_name(p)) for p in SOURCES} - {""}
    assert parts <= set(FLOOR), f"give these a floor in FLOORS and docs/architecture.md: {parts - set(FLOOR)}"


def wing_violation(me: str, target: str, names: list[str]) -> str | None:
    """Why importing `target` (and `names` from it) from module `me` breaks the wings' rule, if it does."""
    mine = wing_of(me)
    if mine is None or me == "heroagent.jobs":  # the package's lazy public face names every wing's exports
        return None
    # `from heroagent.jobs import live` names a wing in `names`
    for other in [target, *(f"{target}.{n}" for n in names)]:
        theirs = wing_of(other)
        if theirs is not None and theirs != mine and WING_FLOOR[theirs] >= WING_FLOOR[mine]:
            return f"jobs wing {mine} (floor {WING_FLOOR[mine]}) imports wing {theirs} (floor {WING_FLOOR[theirs]})"
    return None


def violations(source: str, path: Path) -> list[str]:
    """Every import in `source` (the text of `path`) that breaks the rules, as 'file:line: why'."""
    me = part_of(module_name(path))
    broken = []
    for line, target, names in imports(source, path):
        wing_broken = wing_violation(module_name(path), target, names)
        if wing_broken:
            broken.append(f"{path.relative_to(REPO)}:{line}: {wing_broken}")
        top = target.split(".")[0]
        where = f"{path.relative_to(REPO)}:{line}"
        if top in WEB_ONLY and me != "web":
            broken.append(f"{where} imports {target}: only heroagent/web/ may use the web stack")
        if top != "heroagent":
            continue
        others = [part_of(target)]
        if others == [""]:  # `from heroagent import x`: a part (module or subpackage), or a lazy name
            names_not_parts = set(names) - set(FLOOR) - {"__version__"}
            if me and names_not_parts:
                broken.append(
                    f"{where} imports {sorted(names_not_parts)} from the package root: import them from their module"
                )
            others = [n for n in names if n in FLOOR]
        for other in others:
            if other != me and me != "" and FLOOR[other] >= FLOOR[me]:
                broken.append(f"{where}: {me} (floor {FLOOR[me]}) imports {other} (floor {FLOOR[other]})")
    return broken


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_imports_only_go_down(path: Path) -> None:
    broken = violations(path.read_text(), path)
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize(
    ("module", "planted", "why"),
    [
        (
            "jobs/server/manager.py",
            "from heroagent.schedules.book import ScheduleBook",
            "jobs (floor 6) imports schedules",
        ),
        ("config.py", "from heroagent.schedules import service", "config (floor 3) imports schedules"),
        ("web/api.py", "from heroagent.factory import HeroAgent", "web (floor 9) imports factory"),
        ("ourdb/db.py", "from ..jobs import model", "ourdb (floor 1) imports jobs"),
        ("jobs/run/worker.py", "import flask", "only heroagent/web/ may use the web stack"),
        (
            "jobs/live/queue.py",
            "from heroagent.jobs.run.worker import WorkerPool",
            "wing live (floor 1) imports wing run",
        ),
        (
            "jobs/run/worker.py",
            "from heroagent.jobs.history.store import JobStore",
            "wing run (floor 2) imports wing history",
        ),
        ("jobs/history/upkeep.py", "from heroagent.jobs.run import worker", "wing history (floor 2) imports wing run"),
        ("jobs/history/store.py", "from ..server import manager", "wing history (floor 2) imports wing server"),
        ("jobs/model.py", "from heroagent.jobs.live.queue import JobQueue", "wing root (floor 0) imports wing live"),
        ("jobs/keys.py", "from heroagent.jobs import server", "wing root (floor 0) imports wing server"),
        ("client.py", "from heroagent import HeroAgent", "from the package root"),
        ("ourdb/db.py", "from heroagent import web", "ourdb (floor 1) imports web"),
    ],
)
def test_the_walk_reports_a_planted_upward_import(module: str, planted: str, why: str) -> None:
    """The check itself can fail: each wall the issue named, broken on purpose in a copy of the text."""
    path = PACKAGE / module
    broken = violations(path.read_text() + "\n" + planted + "\n", path)
    assert any(why in b for b in broken), broken


@pytest.mark.parametrize("module", ["heroagent.ourdb", "heroagent.heroscript", "heroagent.client", "heroagent.cli"])
def test_small_parts_load_no_web_stack(module: str) -> None:
    code = (
        f"import sys, json, {module}\n"
        "heavy = ['flask', 'wsgidav', 'cheroot', 'werkzeug', 'jinja2']\n"
        "print(json.dumps([m for m in heavy if m in sys.modules]))\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [], f"importing {module} loaded {result.stdout.strip()}"


def test_the_package_root_still_offers_every_public_name() -> None:
    result = run_python(
        "import heroagent\n"
        "from heroagent import HeroAgent, New, Job, JobStatus, actor, load_config, default_config, Config\n"
        "from heroagent import ConfigError, HeroAgentError, ServiceError, __version__\n"
        "assert set(heroagent.__all__) <= set(dir(heroagent))\n"
        "try:\n    heroagent.Nope\nexcept AttributeError as e:\n    print(e)\n"
    )
    assert result.returncode == 0, result.stderr
    assert "has no attribute 'Nope'" in result.stdout


HEAVY_WINGS = ("heroagent.jobs.history", "heroagent.jobs.run", "heroagent.jobs.server")
NOT_FOR_CLIENTS = (*HEAVY_WINGS, "heroagent.ourdb", "heroagent.redis_server")
REPORT_MODULES = (
    "import atexit, json, sys\n"
    "ours = lambda: sorted(m for m in sys.modules if m.startswith('heroagent'))\n"
    "atexit.register(lambda: print('MODULES=' + json.dumps(ours())))\n"
)


def loaded_modules(stdout: str) -> list[str]:
    line = next(line for line in stdout.splitlines() if line.startswith("MODULES="))
    return list(json.loads(line.removeprefix("MODULES=")))


def test_a_client_is_light() -> None:
    """`import heroagent.client` loads the job system's root and live wing, none of the server's parts."""
    result = run_python(REPORT_MODULES + "import heroagent.client\n")
    assert result.returncode == 0, result.stderr
    loaded = loaded_modules(result.stdout)
    assert len(loaded) <= 32, loaded  # the issue asks for "at most ~30"
    assert not [m for m in loaded if m.startswith(NOT_FOR_CLIENTS)], loaded


@pytest.mark.parametrize(
    "command",
    [
        ["job", "submit", "demo", "!!fake.sleep seconds:1"],
        ["job", "get", "1"],
        ["job", "list"],
        ["job", "cancel", "1"],
        ["job", "logs", "1"],
        ["job", "history", "1"],
        ["job", "watch", "--topic", "demo"],
        ["job", "dead", "list"],
        ["workers"],
        ["worker", "list"],
        ["worker", "drain", "w1"],
        ["queue", "list"],
        ["queue", "limit", "demo", "--max-running", "2"],
        ["queue", "pause", "demo"],
    ],
    ids=" ".join,
)
def test_the_cli_job_commands_load_no_server(command: list[str], tmp_path: Path) -> None:
    """The CLI's job commands are clients: run against a Redis that is not there, they load no server part."""
    code = (
        REPORT_MODULES + "import sys\nfrom heroagent.cli import main\nsys.argv = ['heroagent', *sys.argv[1:]]\nmain()\n"
    )
    env = {"HEROAGENT_REDIS_URL": "redis://127.0.0.1:1/0", "HEROAGENT_DATA_DIR": str(tmp_path)}
    env["HEROAGENT_UI_PORT"] = "1"  # `job watch` goes to the dashboard's API: nobody there either
    result = run_python(code, *command, env=env)
    assert result.returncode == 2, (result.stdout, result.stderr)  # cannot reach Redis: one line, exit 2
    loaded = loaded_modules(result.stdout)
    assert not [m for m in loaded if m.startswith(NOT_FOR_CLIENTS)], loaded


def test_the_client_walk_catches_a_heavy_import() -> None:
    """The check above can fail: a client that imports the manager loads the server wing."""
    result = run_python(REPORT_MODULES + "import heroagent.client\nimport heroagent.jobs.server.manager\n")
    assert [m for m in loaded_modules(result.stdout) if m.startswith(NOT_FOR_CLIENTS)]


def test_a_remote_worker_loads_no_history_and_no_server(tmp_path: Path) -> None:
    """`heroagent worker` runs the run wing on the live one: a worker machine has no history to load."""
    code = (
        REPORT_MODULES + "import sys\nfrom heroagent.cli import main\nsys.argv = ['heroagent', *sys.argv[1:]]\nmain()\n"
    )
    result = run_python(code, "worker", "--redis", "redis://127.0.0.1:1/0", env={"HEROAGENT_DATA_DIR": str(tmp_path)})
    assert result.returncode == 2, (result.stdout, result.stderr)  # cannot reach Redis: one line, exit 2
    loaded = loaded_modules(result.stdout)
    assert "heroagent.jobs.run.worker" in loaded
    heavy = ("heroagent.jobs.history", "heroagent.jobs.server", "heroagent.ourdb", "heroagent.redis_server")
    assert not [m for m in loaded if m.startswith(heavy)], loaded
