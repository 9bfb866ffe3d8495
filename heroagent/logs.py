"""Logging for the command line: one stderr handler, one format, libraries' chatter turned down."""

from __future__ import annotations

import logging
import os
import sys

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def setup_logging(level: str | None = None) -> None:
    name = (level or os.environ.get("HEROAGENT_LOG_LEVEL") or "INFO").upper()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT, datefmt="%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, name, logging.INFO))
    for noisy in ("apscheduler", "wsgidav", "cheroot"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
