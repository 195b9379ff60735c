"""Starting, recognising and stopping the stack's own processes (standard library only).

A pid file holds the pid *and* the process start time read from /proc, so a pid that the kernel has
since given to another process is never mistaken for ours, and ``down`` never signals a stranger.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


def process_start_time(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot (/proc/PID/stat field 22); None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may contain spaces and parentheses: split after its last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":  # zombie: it has exited
        return None
    return int(fields[19])


def process_cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


@dataclass(frozen=True)
class PidRecord:
    pid: int
    start_time: int
    argv0: str

    def alive(self) -> bool:
        return process_start_time(self.pid) == self.start_time


def read_pidfile(path: Path) -> PidRecord | None:
    try:
        data = json.loads(path.read_text())
        return PidRecord(int(data["pid"]), int(data["start_time"]), str(data.get("argv0", "")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def running_record(path: Path) -> PidRecord | None:
    """The pid file's process if it is still the very process we started, else None."""
    record = read_pidfile(path)
    return record if record is not None and record.alive() else None


def spawn(
    argv: list[str],
    *,
    pidfile: Path,
    logfile: Path,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    user: str | None = None,
) -> PidRecord:
    """Start ``argv`` detached (own session, output appended to ``logfile``) and record its pid."""
    logfile.parent.mkdir(parents=True, exist_ok=True)
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    with logfile.open("ab") as log:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        log.write(f"\n===== devstack start {stamp}: {' '.join(argv)}\n".encode())
        log.flush()
        kwargs: dict[str, object] = {}
        if user is not None:
            kwargs.update(user=user, group=user, extra_groups=[])
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            start_new_session=True,
            close_fds=True,
            **kwargs,  # type: ignore[arg-type]
        )
    start = None
    for _ in range(100):
        start = process_start_time(proc.pid)
        if start is not None:
            break
        time.sleep(0.01)
    record = PidRecord(proc.pid, start or -1, argv[0])
    pidfile.write_text(
        json.dumps({"pid": record.pid, "start_time": record.start_time, "argv0": argv[0]})
    )
    return record


def stop(
    pidfile: Path,
    *,
    sig: int = signal.SIGTERM,
    timeout_s: float = 30.0,
) -> str:
    """Stop the process recorded in ``pidfile`` if it is still ours; SIGKILL after ``timeout_s``."""
    record = read_pidfile(pidfile)
    if record is None:
        return "not running"
    if not record.alive():
        pidfile.unlink(missing_ok=True)
        return "not running (stale pid file removed)"
    try:
        os.kill(record.pid, sig)
    except ProcessLookupError:
        pidfile.unlink(missing_ok=True)
        return "not running"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not record.alive():
            pidfile.unlink(missing_ok=True)
            return f"stopped (pid {record.pid})"
        time.sleep(0.1)
    # Still there: kill its whole session (we started it as a session leader).
    with contextlib.suppress(ProcessLookupError):
        os.killpg(record.pid, signal.SIGKILL)
    for _ in range(50):
        if not record.alive():
            break
        time.sleep(0.1)
    pidfile.unlink(missing_ok=True)
    return f"killed after {timeout_s:.0f}s (pid {record.pid})"


def port_open(port: int, host: str = "127.0.0.1", timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            local, state, inode = parts[1], parts[3], parts[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                inodes.add(inode)
    return inodes


def port_owners(port: int) -> list[tuple[int, str]]:
    """(pid, command line) of the processes listening on TCP ``port`` (as far as /proc tells)."""
    inodes = _listening_inodes(port)
    if not inodes:
        return []
    owners: list[tuple[int, str]] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fds = list((entry / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                owners.append((int(entry.name), process_cmdline(int(entry.name))))
                break
    return owners


def port_in_use(port: int) -> bool:
    return bool(_listening_inodes(port)) or port_open(port)


def tail(path: Path, lines: int = 40) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 256 * 1024))
            data = fh.read().decode(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(data.splitlines()[-lines:])
