"""The live wing: jobs in flight in Redis, as every process that talks to the job system sees them.

A client (`heroagent.client`, `heroagent job ...`), a remote `heroagent worker` and the server all use
this wing: the queue's Lua scripts (`lua/`, `scripts`), the hot path's held connections (`direct`),
creating jobs from any process (`submit`), job log lines in Redis (`joblog`) and the worker registry
(`workers`). It imports only the `heroagent.jobs` root (model, keys, errors, fastjson, retry): never
`run/`, `history/` or `server/`.
"""
