"""Real clients against kafka-eos-broker, no faults: idempotent and transactional producers
(librdkafka via confluent-kafka, and kafka-python), read_committed consumers with assign(), and
zombie fencing by a second producer with the same transactional.id."""

import time

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from helpers import consume_all, duplicates
from kafka import KafkaConsumer, KafkaProducer, OffsetAndMetadata
from kafka import TopicPartition as KTopicPartition

N = 2000


def test_confluent_idempotent_producer(spawn):
    broker, _ = spawn.broker()
    p = Producer({"bootstrap.servers": broker.bootstrap, "enable.idempotence": True,
                  "linger.ms": 5, "batch.num.messages": 100})
    errors = []
    for i in range(N):
        p.produce("t", key=str(i), value=f"i{i}",
                  on_delivery=lambda e, m: errors.append(e) if e else None)
        p.poll(0)
    assert p.flush(30) == 0
    assert errors == []
    values = consume_all(broker.bootstrap)
    assert sorted(values) == sorted(f"i{i}" for i in range(N))
    assert broker.stats()["batches_appended"] > 0


def txn_round(p, prefix, n, commit):
    p.begin_transaction()
    for i in range(n):
        p.produce("t", key=str(i), value=f"{prefix}-{i}")
    p.flush(10)  # so that an aborted round really lands on the broker
    if commit:
        p.commit_transaction(15)
    else:
        p.abort_transaction(15)
    return [f"{prefix}-{i}" for i in range(n)]


def test_confluent_transactional_commit_and_abort(spawn):
    broker, _ = spawn.broker()
    p = Producer({"bootstrap.servers": broker.bootstrap, "transactional.id": "txn-c",
                  "linger.ms": 5})
    p.init_transactions(15)
    committed, aborted = [], []
    for r in range(6):
        values = txn_round(p, f"r{r}", 50, commit=(r % 2 == 0))
        (committed if r % 2 == 0 else aborted).extend(values)
    # One round that also commits consumer offsets (AddOffsetsToTxn + TxnOffsetCommit).
    p.begin_transaction()
    p.produce("t", value="offsets-round")
    group = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "grp-c",
                      "enable.auto.commit": False})
    p.send_offsets_to_transaction([TopicPartition("t", 0, 5)], group.consumer_group_metadata(), 15)
    group.close()
    p.commit_transaction(15)
    committed.append("offsets-round")
    values = consume_all(broker.bootstrap)
    assert duplicates(values) == 0
    assert set(values) == set(committed)
    assert not set(values) & set(aborted)
    stats = broker.stats()
    assert stats["markers_written"] >= 7


def test_kafka_python_idempotent_and_transactional(spawn):
    broker, _ = spawn.broker()
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, enable_idempotence=True, linger_ms=5)
    futures = [p.send("t", value=f"k{i}".encode()) for i in range(500)]
    p.flush(30)
    assert all(f.succeeded() for f in futures)
    p.close(5)

    tp = KafkaProducer(bootstrap_servers=broker.bootstrap, transactional_id="txn-k")
    tp.init_transactions()
    committed, aborted = [f"k{i}" for i in range(500)], []
    for r in range(4):
        tp.begin_transaction()
        values = [f"kr{r}-{i}" for i in range(20)]
        for v in values:
            tp.send("t", value=v.encode())
        if r == 3:
            tp.send_offsets_to_transaction(
                {KTopicPartition("t", 0): OffsetAndMetadata(5, None, -1)}, "grp")
        tp.flush()
        if r % 2 == 0 or r == 3:
            tp.commit_transaction()
            committed += values
        else:
            tp.abort_transaction()
            aborted += values
    tp.close(5)

    c = KafkaConsumer(bootstrap_servers=broker.bootstrap, isolation_level="read_committed",
                      group_id=None, enable_auto_commit=False)
    parts = [KTopicPartition("t", 0), KTopicPartition("t", 1)]
    c.assign(parts)
    c.seek_to_beginning()
    values, deadline = [], time.time() + 30
    while True:
        assert time.time() < deadline, "kafka-python consumer timed out"
        for msgs in c.poll(300).values():
            values += [m.value.decode() for m in msgs]
        ends = c.end_offsets(parts)
        if all(c.position(tp_) >= ends[tp_] for tp_ in parts):
            break
    c.close()
    assert duplicates(values) == 0
    assert set(values) == set(committed)
    assert not set(values) & set(aborted)
    # And librdkafka's read_committed reader agrees.
    assert sorted(consume_all(broker.bootstrap)) == sorted(values)


def test_second_transactional_producer_fences_the_first(spawn):
    broker, _ = spawn.broker()
    conf = {"bootstrap.servers": broker.bootstrap, "transactional.id": "zombie", "linger.ms": 5}
    first = Producer(conf)
    first.init_transactions(15)
    first.begin_transaction()
    for i in range(10):
        first.produce("t", value=f"zombie-{i}")
    first.flush(10)

    second = Producer(conf)
    second.init_transactions(30)  # fences the first and aborts its open transaction
    second.begin_transaction()
    second.produce("t", value="survivor")
    second.commit_transaction(15)

    with pytest.raises(KafkaException) as err:
        first.produce("t", value="zombie-late")
        first.flush(5)
        first.commit_transaction(10)
    kerr = err.value.args[0]
    assert kerr.fatal() or kerr.txn_requires_abort(), kerr
    values = consume_all(broker.bootstrap)
    assert values == ["survivor"]
