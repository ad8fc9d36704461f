"""Client helpers with bounded loops: consume a whole topic with read_committed and assign()."""

import time
from collections import Counter

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition


def consume_all(bootstrap, topic="t", partitions=2, isolation="read_committed", timeout=40.0):
    """Every value of `topic` from the beginning, read with librdkafka through `assign()`,
    until every partition reports EOF (its position reached the LSO / high watermark)."""
    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": "kafka-eos-e2e",  # the Python binding insists; no group API is used
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "isolation.level": isolation,
        "socket.timeout.ms": 5000,
    })
    try:
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        values, eof = [], set()
        deadline = time.time() + timeout
        while len(eof) < partitions:
            assert time.time() < deadline, f"consumer timed out; EOF on {sorted(eof)}"
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    eof.add(m.partition())
                    continue
                raise AssertionError(f"consumer error {m.error()}")
            eof.discard(m.partition())
            values.append(m.value().decode())
        return values
    finally:
        c.close()


def duplicates(values):
    """How many values were read more than once (extra copies)."""
    return sum(n - 1 for n in Counter(values).values() if n > 1)
