"""CPU seconds of processes, read from /proc (Linux): a process tree (a service and the workers
it started) and every process of a server (PostgreSQL's backends). Per-row CPU figures next to
rows/s say where the time goes, and move less with the shared machine's load than rates do."""

from __future__ import annotations

import os
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[str, int, float] | None:
    """(command name, parent pid, CPU seconds) of a live process; None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    return name, int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK


def _all() -> dict[int, tuple[str, int, float]]:
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _stat(int(entry))) is not None:
            found[int(entry)] = stat
    return found


def tree_cpu(pid: int) -> float:
    """CPU seconds used so far by ``pid`` and its live descendants."""
    processes = _all()
    children: dict[int, list[int]] = {}
    for child, (_, parent, _) in processes.items():
        children.setdefault(parent, []).append(child)
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        if current in processes:
            total += processes[current][2]
        todo += children.get(current, [])
    return total


def named_cpu(name: str) -> float:
    """CPU seconds used so far by every live process called ``name`` (e.g. "postgres")."""
    return sum(cpu for comm, _, cpu in _all().values() if comm == name)
