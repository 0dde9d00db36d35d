"""The application layer: every use case of one device's journal, as a typed function.

The command (tend/cli) and the coming local page call the same functions here; each takes a
`Journal` (or a home folder, to open one) and typed arguments, and returns typed results. What
a person can do lives here, never only in an interface: finding things by short id, the
private-by-default policy, device settings, roster rows, pairing, sync and its merged reports.
Interfaces add only parsing, prompting, rendering and exit codes.
"""
