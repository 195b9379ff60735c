"""Suppress the same RuuviTag measurement heard through several gateways (pure, bounded).

A tag's advertisement reaches every gateway in range; each relays it. The pair (tag MAC,
measurement sequence) identifies one measurement, so the second copy within ``window_seconds``
is dropped. Memory is bounded by ``max_entries`` (oldest first out) and by the window (expired
entries are dropped as time moves on). The clock is the caller's: pass ``now`` in seconds from
any monotonic source; it must not go backwards.
"""

from __future__ import annotations

from collections import OrderedDict


class DuplicateFilter:
    def __init__(self, window_seconds: float = 10.0, max_entries: int = 100_000) -> None:
        if window_seconds < 0:
            raise ValueError("window_seconds must be >= 0")
        if max_entries < 1:
            raise ValueError("max_entries must be >= 1")
        self.window_seconds = window_seconds
        self.max_entries = max_entries
        self._first_seen: OrderedDict[tuple[str, int], float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._first_seen)

    def _expire(self, now: float) -> None:
        # ``now - seen <= window``, not ``seen >= now - window``: the two round differently, and
        # "within the window" is the age of the entry (hypothesis found the float edge).
        window = self.window_seconds
        entries = self._first_seen
        while entries:
            key, seen = next(iter(entries.items()))
            if now - seen <= window:
                break
            del entries[key]

    def is_duplicate(self, tag_mac: str, sequence: int | None, now: float) -> bool:
        """True when this (tag, sequence) was already accepted within the window; otherwise
        remembers it and returns False. A reading without a sequence number is never a
        duplicate (nothing identifies it)."""
        if sequence is None:
            return False
        self._expire(now)
        key = (tag_mac, sequence)
        if key in self._first_seen:
            return True
        self._first_seen[key] = now
        if len(self._first_seen) > self.max_entries:
            self._first_seen.popitem(last=False)
        return False

    def forget(self, tag_mac: str, sequence: int | None) -> None:
        """Drop a remembered measurement, e.g. when publishing it failed, so that a redelivered
        copy is not mistaken for a duplicate."""
        if sequence is not None:
            self._first_seen.pop((tag_mac, sequence), None)
