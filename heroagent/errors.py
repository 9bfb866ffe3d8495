"""Errors a user can cause and fix.

Every error here carries a message meant to be printed as it is: it names what is wrong and what to
do about it. The command line prints these as one line and exits with code 2; anything else is a bug
and keeps its traceback.
"""

from __future__ import annotations


class HeroAgentError(Exception):
    """A problem the user can fix (bad config, port in use, ...): print the message, no traceback."""


class ConfigError(HeroAgentError, ValueError):
    """The configuration file or an environment override is invalid."""


class ServiceError(HeroAgentError):
    """A service (Redis, WebDAV, UI, jobs) could not start or stop."""

    def __init__(self, service: str, message: str) -> None:
        super().__init__(f"{service}: {message}")
        self.service = service


class InvalidInputError(HeroAgentError, ValueError):
    """Input that breaks its schema (a job, a schedule, a query): the message names the field."""


class NotFoundError(HeroAgentError, KeyError):
    """No such thing (a job, a schedule): the message names it."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""
