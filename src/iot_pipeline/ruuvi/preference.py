"""Ruuvi Air's rule for its two formats (pure, bounded, clock passed in).

A Ruuvi Air advertises the same measurement in Format 6 (Bluetooth 4, legacy advertising) and in
E1 (Bluetooth 5 extended advertising). The E1 specification: "if the same device receives both
in data format 6 and E1, the format 6 packet should be discarded". E1 carries more (PM1.0/4.0/10,
a 24-bit sequence, the full MAC); Format 6's 8-bit sequence is the low byte of E1's, so sequence
based duplicate suppression cannot pair the two.

:class:`AirFormatPreference` remembers, per tag, when E1 was last heard; a Format 6 reading of a
tag heard in E1 within ``hold_seconds`` is dropped. A tag whose E1 stops (receiver out of BLE 5
range, a gateway without extended advertising) falls back to Format 6 after ``hold_seconds``.
Tags are keyed by the full tag MAC the receiver knows (BLE address / gateway topic), since
Format 6 itself carries only the MAC's low 3 bytes. Memory is bounded by ``max_tags`` (the tag
heard longest ago is forgotten first).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Final

FORMAT_6: Final = 6
FORMAT_E1: Final = 0xE1


class AirFormatPreference:
    def __init__(self, hold_seconds: float = 60.0, max_tags: int = 100_000) -> None:
        if hold_seconds < 0:
            raise ValueError("hold_seconds must be >= 0")
        if max_tags < 1:
            raise ValueError("max_tags must be >= 1")
        self.hold_seconds = hold_seconds
        self.max_tags = max_tags
        self._e1_heard: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._e1_heard)

    def accept(self, tag_mac: str, data_format: int, now: float) -> bool:
        """False for a Format 6 reading of a tag heard in E1 within the hold time; True for
        everything else (E1 readings are remembered). ``now``: seconds from a monotonic clock."""
        if data_format == FORMAT_E1:
            self._e1_heard[tag_mac] = now
            self._e1_heard.move_to_end(tag_mac)
            if len(self._e1_heard) > self.max_tags:
                self._e1_heard.popitem(last=False)
            return True
        if data_format != FORMAT_6:
            return True
        heard = self._e1_heard.get(tag_mac)
        if heard is None:
            return True
        if now - heard > self.hold_seconds:
            del self._e1_heard[tag_mac]
            return True
        return False
