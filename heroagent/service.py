"""The one shape every part of the appliance has, so the factory can start and stop them in order."""

from __future__ import annotations

from typing import Protocol


class Service(Protocol):
    def preflight(self) -> None:
        """Check the settings before any service starts (ServiceError names the fix); start nothing."""
        ...

    def start(self) -> None: ...
    def stop(self) -> None: ...
