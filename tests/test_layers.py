"""The layering rules of docs/architecture.md ("Layers"), checked on the source with an ast walk.

Each part of the package has a floor; a part may import only parts on lower floors. The top-level
`heroagent` package is lazy and may be imported only for `__version__`. Flask and its kin are the
web layer's alone. A fresh interpreter importing the small parts loads no web stack.
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
    {"errors", "lazy", "logs", "resources", "service", "loops", "hosts", "throttle", "pidlock", "redaction"},
    {"net", "heroscript", "ourdb", "lockfile"},
    {"schema"},
    {"config"},
    {"http_server", "redis_server"},
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


def part_of(module: str) -> str:
    """'heroagent.jobs.queue' -> 'jobs'; 'heroagent.cli' -> 'cli'; 'heroagent' -> ''."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    names = list(rel.parts)
    if names[-1] == "__init__":
        names.pop()
    return ".".join(names)


def imports(source: str, path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, imported module, names taken from it) for every import in `source` (the text of `path`)."""
    found = []
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


def violations(source: str, path: Path) -> list[str]:
    """Every import in `source` (the text of `path`) that breaks the rules, as 'file:line: why'."""
    me = part_of(module_name(path))
    broken = []
    for line, target, names in imports(source, path):
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
        ("jobs/manager.py", "from heroagent.schedules.book import ScheduleBook", "jobs (floor 5) imports schedules"),
        ("config.py", "from heroagent.schedules import service", "config (floor 3) imports schedules"),
        ("web/api.py", "from heroagent.factory import HeroAgent", "web (floor 8) imports factory"),
        ("ourdb/db.py", "from ..jobs import model", "ourdb (floor 1) imports jobs"),
        ("jobs/worker.py", "import flask", "only heroagent/web/ may use the web stack"),
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
