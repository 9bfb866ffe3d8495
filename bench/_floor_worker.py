"""The floor's worker: BRPOP a plain list, run the same job body (one INCR). No features, no safety:
a job popped by a worker that dies is gone. This is the practical ceiling on this Redis."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._peer_tasks import _client, noop

while True:
    item = _client.brpop(["bench:floor:queue"], timeout=1)
    if item is not None:
        name, _, at = item[1].decode().partition("|")
        noop(name, float(at))
