"""The few facts about a Redis server worth showing a person (dashboard) or a program (`/api/health`)."""

from __future__ import annotations

from typing import Any

import redis

NO_INFO_NOTE = "the Redis user may not run INFO (allow +info to see these facts)"


def redis_facts(client: redis.Redis) -> dict[str, str]:
    """Version, memory, clients and persistence, from one INFO call. Raises redis.RedisError if down; a
    least-privilege ACL user without INFO gets {"note": ...} instead of the facts."""
    try:
        info: Any = client.info()
    except redis.exceptions.NoPermissionError:
        return {"note": NO_INFO_NOTE}
    persistence = []
    if info.get("aof_enabled"):
        persistence.append("AOF")
    if info.get("rdb_last_save_time"):
        persistence.append("RDB")
    return {
        "version": str(info.get("redis_version", "?")),
        "uptime_seconds": str(info.get("uptime_in_seconds", 0)),
        "used_memory": str(info.get("used_memory_human", "?")),
        "peak_memory": str(info.get("used_memory_peak_human", "?")),
        "clients": str(info.get("connected_clients", 0)),
        "persistence": " + ".join(persistence) or "none",
        "last_save": str(info.get("rdb_last_save_time", 0)),
        "aof_last_write": str(info.get("aof_last_write_status", "")),
        "key_count": str(
            sum(int(v.get("keys", 0)) for k, v in info.items() if k.startswith("db") and isinstance(v, dict))
        ),
    }
