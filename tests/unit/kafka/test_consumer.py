from dataclasses import dataclass

from iot_pipeline.kafka.consumer import offsets_to_commit


@dataclass
class FakeMessage:
    """Stands in for confluent_kafka.Message in this pure bookkeeping test."""

    _topic: str
    _partition: int
    _offset: int

    def topic(self):
        return self._topic

    def partition(self):
        return self._partition

    def offset(self):
        return self._offset


def test_commits_highest_offset_plus_one_per_partition():
    messages = [FakeMessage("a", 0, 5), FakeMessage("a", 1, 2), FakeMessage("a", 0, 7)]
    committed = [(tp.topic, tp.partition, tp.offset) for tp in offsets_to_commit(messages)]
    assert committed == [("a", 0, 8), ("a", 1, 3)]


def test_nothing_to_commit_for_no_messages():
    assert offsets_to_commit([]) == []
