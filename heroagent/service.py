"""The one shape every part of the appliance has, so the factory can start and stop them in order."""

from __future__ import annotations

from typing import Protocol


class Service(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...
