"""Per-job log files under `<data_dir>/logs/<jobid>.log`, for jobs submitted with `log = true`."""

from __future__ import annotations

import threading
import time
from pathlib import Path


class JobLogs:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()

    def path(self, job_id: int) -> Path:
        return self.directory / f"{job_id}.log"

    def append(self, job_id: int, text: str) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        lines = "".join(f"{stamp} {line}\n" for line in text.rstrip("\n").split("\n"))
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            with self.path(job_id).open("a", encoding="utf-8") as f:
                f.write(lines)

    def read(self, job_id: int, offset: int = 0) -> str:
        try:
            with self.path(job_id).open("r", encoding="utf-8", errors="replace") as f:
                f.seek(offset)
                return f.read()
        except FileNotFoundError:
            return ""

    def remove(self, job_id: int) -> None:
        self.path(job_id).unlink(missing_ok=True)
