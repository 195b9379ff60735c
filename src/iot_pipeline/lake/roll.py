"""When buffered readings become a commit: by size or by age (pure; the clock is passed in)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class RollPolicy:
    """Roll (write the buffered rows, commit) when they reach `max_bytes` of Arrow memory, or
    `max_age` seconds after the first of them arrived, whichever comes first."""

    max_bytes: int
    max_age: float
    _size: int = 0
    _started: float | None = None

    def __post_init__(self) -> None:
        if self.max_bytes < 1 or self.max_age <= 0:
            raise ValueError("max_bytes must be >= 1 and max_age > 0")

    @property
    def size(self) -> int:
        return self._size

    def add(self, nbytes: int, now: float) -> None:
        if self._started is None:
            self._started = now
        self._size += nbytes

    def is_due(self, now: float) -> bool:
        if self._started is None:
            return False
        return self._size >= self.max_bytes or now - self._started >= self.max_age

    def wait_time(self, now: float, longest: float) -> float:
        """How long the loop may block waiting for input before the age limit is reached."""
        if self._started is None:
            return longest
        return max(0.0, min(longest, self._started + self.max_age - now))

    def reset(self) -> None:
        self._size = 0
        self._started = None
