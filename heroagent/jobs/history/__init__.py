"""The history wing: the server's record of every version of every job (OurDB + its SQLite index).

Only the one process that writes the history runs this wing: the store (`store`, `history_index`,
`spill`), the recorder that files Redis's events (`recorder`), the reconciler that makes Redis and the
history agree (`reconciler`), retention and compaction (`upkeep`) and the counters fed by the recorder
(`stats`). It stands on the root and `live/`; it never imports `run/` or `server/`.
"""
