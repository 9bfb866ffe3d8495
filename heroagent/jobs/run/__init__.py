"""The run wing: what executes jobs. A remote `heroagent worker` is this wing and the live one, nothing more.

The worker pool (`worker`), dispatch by params type (`executor`), actors and their registry (`actors`,
`builtin_actors`, `context`), the other params types (`processors`), process groups (`processes`) and
per-job isolation (`isolation`). It stands on the root and `live/`; it never imports `history/` (a
worker machine has no history) or `server/`.
"""
