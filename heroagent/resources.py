"""Where the shipped files are: inside the wheel (heroagent/templates) or at the top of a checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """`templates`, `static` or `config.example.toml`: the installed copy first, then the checkout's."""
    for candidate in (_PACKAGE / name, _PACKAGE.parent / name):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"HeroAgent resource {name!r} not found next to {_PACKAGE}; reinstall heroagent")
