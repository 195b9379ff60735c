"""When each simulated device reads next (pure): a heap of due times."""

from __future__ import annotations

import heapq


class Schedule:
    """Devices due in time order; a device with interval 0 is due again at once (max rate).

    Ties go round-robin (a running sequence number breaks them), so at interval 0 every device
    takes its turn instead of the lowest index starving the rest.
    """

    def __init__(self, intervals: list[float], start: float) -> None:
        self._intervals = intervals
        self._heap = [(start, index, index) for index in range(len(intervals))]
        self._sequence = len(intervals)
        heapq.heapify(self._heap)

    def next_due(self) -> float:
        return self._heap[0][0]

    def pop(self) -> int:
        """The device due first; it is rescheduled one interval after its due time."""
        due, _, index = heapq.heappop(self._heap)
        heapq.heappush(self._heap, (due + self._intervals[index], self._sequence, index))
        self._sequence += 1
        return index
