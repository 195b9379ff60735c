"""Retry pacing shared by the services (database and registry outages)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with a cap: 0.5 s, 1 s, 2 s, ... up to ``maximum``."""

    initial: float = 0.5
    maximum: float = 30.0
    factor: float = 2.0

    def delay(self, attempt: int) -> float:
        """Delay before retry number ``attempt`` (1-based)."""
        if attempt < 1:
            raise ValueError("attempt counts from 1")
        return min(self.maximum, self.initial * self.factor ** (attempt - 1))
