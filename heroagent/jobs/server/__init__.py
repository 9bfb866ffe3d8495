"""The server wing: what only `heroagent serve` (or an embedding program) runs, wiring the others.

`manager` (the job API over live state and history), `rpc` (answering clients' requests over Redis),
`hero` (the hero actor intake) and `service` (starting and stopping every loop in order). It may import
every other wing; no other wing imports it.
"""
