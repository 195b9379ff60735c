"""What every end-to-end suite's service process shares: a run_*.py of the repository started as a
real process logging to a file, stopped by SIGTERM or killed, and the fixture body that starts
them for a test and kills whichever is still running at its end."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Protocol, TypeVar

REPO = Path(__file__).resolve().parents[2]


class ServiceProcess:
    """``python [python_args] <script>`` from the repository's root with exactly ``env``,
    stdout and stderr appended to ``log``."""

    def __init__(
        self, script: str, env: Mapping[str, str], log: Path, python_args: Sequence[str] = ()
    ) -> None:
        self.log = log
        self._file = log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, *python_args, str(REPO / script)],
            cwd=REPO,
            env=dict(env),
            stdout=self._file,
            stderr=subprocess.STDOUT,
        )

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, then the exit code."""
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        self._file.close()
        return code

    def kill(self) -> None:
        """SIGKILL: no flush, no commit, nothing."""
        self.proc.kill()
        self.proc.wait(30)
        self._file.close()

    def text(self) -> str:
        return self.log.read_text(errors="replace")


class _Killable(Protocol):
    proc: subprocess.Popen[bytes]

    def kill(self) -> None: ...


P = TypeVar("P", bound=_Killable)


def started_processes(
    make: Callable[[dict[str, str], Path], P], logs: Path, name: str
) -> Iterator[Callable[[dict[str, str]], P]]:
    """A start fixture's body (``yield from`` it): yields ``start(env)``, which makes a process
    logging to ``logs/<name>-<n>.log``; at teardown kills those still running."""
    started: list[P] = []

    def start(env: dict[str, str]) -> P:
        process = make(env, logs / f"{name}-{len(started)}.log")
        started.append(process)
        return process

    yield start
    for process in started:
        if process.proc.poll() is None:
            process.kill()
