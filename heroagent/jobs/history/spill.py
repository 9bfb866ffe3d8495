"""Large params, results and errors beside the history's records, read back transparently.

An OurDB record holds at most 65,535 bytes, and a job's version is written as Redis's cjson encodes it
(which doubles a `/`). A version that would not fit has its large text fields moved to files, one per
value, named by the SHA-256 of the value under `<history>.values/<job id>/`, and the record keeps a
marker in their place (`"\\u0000value:<sha256>:<bytes>"`; a NUL cannot come from a job's own JSON text
unescaped, so the marker is unambiguous). Reading a version puts the values back. A file is written and
fsynced before the record that points at it, so a record never points at a missing value; deleting a
job deletes its folder. Values are never pickled: they are the text as it was.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

RECORD_LIMIT = 65_535  # what one OurDB record holds
SPILL_FIELDS = ("params", "result", "error")  # the fields that can be large
MARKER = "\u0000value:"


class ValueStore:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def spill(self, job_id: int, raw: bytes) -> bytes:
        """`raw` as it can be stored: unchanged if it fits one record, else with its large values moved out."""
        if len(raw) <= RECORD_LIMIT:
            return raw
        doc: dict[str, Any] = json.loads(raw)
        sized = sorted(
            ((len(json.dumps(doc.get(f, ""))), f) for f in SPILL_FIELDS if isinstance(doc.get(f), str)), reverse=True
        )
        for _, name in sized:  # the largest first, until the rest fits
            doc[name] = self._write(job_id, doc[name])
            raw = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
            if len(raw) <= RECORD_LIMIT:
                return raw
        return raw  # still too large: OurDB refuses it, and the recorder sets the event aside

    def restore(self, job_id: int, raw: bytes) -> dict[str, Any]:
        """The record's JSON, parsed, with every moved value put back."""
        doc: dict[str, Any] = json.loads(raw)
        if b"\\u0000value:" in raw:
            for name in SPILL_FIELDS:
                value = doc.get(name)
                if isinstance(value, str) and value.startswith(MARKER):
                    doc[name] = self._read(job_id, value)
        return doc

    def remove(self, job_id: int) -> None:
        shutil.rmtree(self.folder / str(job_id), ignore_errors=True)

    def _write(self, job_id: int, value: str) -> str:
        data = value.encode()
        digest = hashlib.sha256(data).hexdigest()
        folder = self.folder / str(job_id)
        path = folder / f"{digest}.txt"
        if not path.exists():
            folder.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            with open(tmp, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
            with contextlib.suppress(OSError):
                fd = os.open(folder, os.O_RDONLY)
                os.fsync(fd)
                os.close(fd)
        return f"{MARKER}{digest}:{len(data)}"

    def _read(self, job_id: int, marker: str) -> str:
        digest = marker[len(MARKER) :].split(":", 1)[0]
        try:
            return (self.folder / str(job_id) / f"{digest}.txt").read_text()
        except OSError as exc:
            return f"[this value ({marker[len(MARKER) :]}) is missing from {self.folder}: {exc.strerror}]"
