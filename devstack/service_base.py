"""What every native service is: a process devstack starts, with its pid file, log, ports and
configuration (standard library only)."""

from __future__ import annotations

import signal
from dataclasses import dataclass
from pathlib import Path

from devstack.config import StackConfig


class SetupError(RuntimeError):
    pass


def write_if_changed(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


@dataclass(eq=False)
class Service:
    name: str
    ports: tuple[int, ...]
    endpoint: str
    stop_signal: int = signal.SIGTERM
    stop_timeout_s: float = 30.0
    # The Debian package's own service of the same server, named when it holds our port.
    distro_service: str | None = None
    # Started only once PostgreSQL is bootstrapped and healthy (it keeps its data there).
    after_postgres: bool = False

    def pidfile(self, cfg: StackConfig) -> Path:
        return cfg.run_dir / f"{self.name}.pid"

    def logfile(self, cfg: StackConfig) -> Path:
        return cfg.logs_dir / f"{self.name}.log"

    def run_user(self, cfg: StackConfig) -> str | None:
        return None

    def prepare(self, cfg: StackConfig) -> None:
        """Write config files and initialise data directories (idempotent)."""

    def argv(self, cfg: StackConfig) -> list[str]:
        raise NotImplementedError

    def env(self, cfg: StackConfig) -> dict[str, str]:
        return dict(cfg.env)

    def cwd(self, cfg: StackConfig) -> Path:
        return cfg.state_dir
