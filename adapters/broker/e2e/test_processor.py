"""End-to-end exactly-once, consume-transform-produce, with real clients: processor.py
(confluent-kafka) in a consumer group, through the fault proxy, SIGKILLed at seeded points and
restarted until the input is consumed. The read_committed output must hold exactly one
transformed record per input record, in input order per partition. The control (offsets
committed outside the transaction) must show duplicates. kafka-python's
`send_offsets_to_transaction` in a group is checked as well."""

import json
import os
import logging
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition
from conftest import HERE, report
from helpers import consume_all

PARTITIONS = 3
STAGES = ["begun", "produced", "offsets", "committed"]
# The APIs the proxy drops responses of: Produce, AddOffsetsToTxn, EndTxn, TxnOffsetCommit,
# OffsetFetch, Heartbeat.
FAULT_APIS = os.environ.get("E2E_FAULT_APIS", "0,25,26,28,9,12")
BROKER_ARGS = ("--group-min-session-timeout-ms", "1000")
TOPICS = (f"in:{PARTITIONS}", f"out:{PARTITIONS}")


def produce_input(bootstrap, per_partition):
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
    for i in range(per_partition):
        for part in range(PARTITIONS):
            p.produce("in", partition=part, key=f"{part}-{i}", value=f"v{i}")
    assert p.flush(30) == 0


def committed_offsets(bootstrap, group):
    """The group's committed offsets of the input (OffsetFetch, require_stable)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                  "enable.auto.commit": False, "isolation.level": "read_committed"})
    try:
        tps = c.committed([TopicPartition("in", p) for p in range(PARTITIONS)], timeout=10)
        return {tp.partition: tp.offset for tp in tps}
    except Exception:  # a retriable OffsetFetch error under faults: ask again later
        return {}
    finally:
        c.close()


class Slot:
    """One processor identity (a transactional id), restarted after every death."""

    def __init__(self, name, rng, crashes, mode, tmp, bootstrap, group, pause):
        self.name, self.rng, self.crashes_left, self.pause = name, rng, crashes, pause
        self.mode, self.tmp, self.bootstrap, self.group = mode, tmp, bootstrap, group
        self.proc, self.crashes, self.fatal_restarts, self.starts = None, 0, 0, 0
        self.stage_cycle = rng.sample(STAGES, len(STAGES))

    def start(self):
        crash = ""
        if self.crashes_left > 0:
            stage = self.stage_cycle[(self.crashes + self.fatal_restarts) % len(STAGES)]
            crash = f"{self.rng.randint(1, 3)}:{stage}"
        self.starts += 1
        log = open(self.tmp / f"{self.name}.{self.starts}.log", "w")
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "processor.py"), "--bootstrap", self.bootstrap,
             "--group", self.group, "--txn-id", self.name, "--mode", self.mode,
             "--crash", crash, "--pause", str(self.pause), "--stop-file", str(self.tmp / "stop"),
             "--events", str(self.tmp / "events.jsonl")],
            stdout=log, stderr=log)

    def check(self):
        """Restarts a dead processor; counts SIGKILLs and fatal exits."""
        code = self.proc.poll()
        if code is None:
            return
        if code == -9:
            self.crashes += 1
            self.crashes_left -= 1
        else:
            self.fatal_restarts += 1
        self.start()

    def stop(self):
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


def run_processors(spawn, tmp_path, label, names, crashes, mode="eos", per_partition=150,
                   seed=11, deadline_s=150, pause=0.0):
    proxy, broker = spawn.proxied_broker(
        proxy_args=["--apis", FAULT_APIS, "--drop", os.environ.get("E2E_DROP", "0.05"),
                    "--seed", str(seed), "--max-faults", "20",
                    "--lifetime", str(deadline_s + 60)],
        broker_args=("--topic", TOPICS[0], "--topic", TOPICS[1], *BROKER_ARGS))
    produce_input(broker.bootstrap, per_partition)
    group = f"g-{label}"
    rng = random.Random(seed)
    slots = [Slot(n, random.Random(rng.random()), crashes, mode, tmp_path, proxy.bootstrap, group,
                  pause) for n in names]
    for s in slots:
        s.start()
    end = {p: per_partition for p in range(PARTITIONS)}
    deadline = time.time() + deadline_s
    done = False
    while time.time() < deadline:
        time.sleep(0.5)
        for s in slots:
            s.check()
        if committed_offsets(broker.bootstrap, group) == end:
            done = True
            break
    (tmp_path / "stop").write_text("stop")
    for s in slots:
        s.stop()
    assert done, f"{label}: input not consumed within {deadline_s}s"
    values = consume_all(broker.bootstrap, topic="out", partitions=PARTITIONS, timeout=60)
    by_partition = {p: [] for p in range(PARTITIONS)}
    for v in values:
        part, offset, _ = v.split(":", 2)
        by_partition[int(part)].append(int(offset))
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    kinds = Counter(e["event"] for e in events)
    stats = broker.stats()
    counts = {
        "records_in": per_partition * PARTITIONS,
        "records_out": len(values),
        "duplicates": len(values) - len({(p, o) for p, os_ in by_partition.items() for o in os_}),
        "crashes_survived": sum(s.crashes for s in slots),
        "fatal_restarts": sum(s.fatal_restarts for s in slots),
        "aborts": kinds["abort"] + kinds["retriable"],
        "rebalances": stats.get("rebalances"),
        "assignments_seen": kinds["assign"],
        "proxy_faults": {k: proxy.stats().get(k) for k in ("dropped", "requests")},
        "markers_written": stats.get("markers_written"),
        "core_errors": stats.get("coordinator_errors"),
    }
    report(f"processor {label}: {counts}")
    assert counts["core_errors"] == 0, "the core refused an input as API misuse (broker log)"
    return counts, by_partition


def assert_exactly_once(counts, by_partition, per_partition):
    for p, offsets in by_partition.items():
        assert offsets == list(range(per_partition)), (
            f"out-{p}: not exactly the input in order "
            f"(first difference at {next((i for i, (a, b) in enumerate(zip(offsets, range(per_partition))) if a != b), len(offsets))})")
    assert counts["duplicates"] == 0
    assert counts["records_out"] == counts["records_in"]


def test_processor_exactly_once_under_crashes(spawn, tmp_path):
    counts, by_partition = run_processors(spawn, tmp_path, "single", ["proc-a"], crashes=6)
    assert_exactly_once(counts, by_partition, 150)
    assert counts["crashes_survived"] == 6


def test_two_processors_in_one_group_under_crashes(spawn, tmp_path):
    counts, by_partition = run_processors(spawn, tmp_path, "pair", ["proc-a", "proc-b"],
                                          crashes=3, seed=23, per_partition=200, pause=0.1)
    assert_exactly_once(counts, by_partition, 200)
    # A processor crashes only while it has work, so the survivor may finish first.
    assert counts["crashes_survived"] >= 3
    assert counts["rebalances"] >= 2


def test_control_offsets_outside_the_transaction_duplicate(spawn, tmp_path):
    counts, _ = run_processors(spawn, tmp_path, "control", ["proc-c"], crashes=4, mode="control",
                               seed=5)
    assert counts["crashes_survived"] >= 1
    assert counts["duplicates"] > 0, counts


def test_kafka_python_send_offsets_to_transaction_in_a_group(spawn, caplog):
    caplog.set_level(logging.INFO, logger="kafka")
    from kafka import KafkaConsumer, KafkaProducer
    from kafka.structs import OffsetAndMetadata
    from kafka.structs import TopicPartition as KTP

    broker, _ = spawn.broker(*BROKER_ARGS, topics=TOPICS)
    produce_input(broker.bootstrap, 40)
    consumer = KafkaConsumer("in", bootstrap_servers=broker.bootstrap, group_id="g-kp",
                             enable_auto_commit=False, auto_offset_reset="earliest",
                             isolation_level="read_committed", session_timeout_ms=6000)
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, transactional_id="kp-proc")
    producer.init_transactions()
    seen, deadline = 0, time.time() + 40
    while seen < 40 * PARTITIONS and time.time() < deadline:
        batch = consumer.poll(timeout_ms=500, max_records=20)
        if not batch:
            continue
        producer.begin_transaction()
        offsets = {}
        for tp, msgs in batch.items():
            for m in msgs:
                producer.send("out", partition=tp.partition,
                              value=f"{tp.partition}:{m.offset}:{m.value.decode()}".encode())
                seen += 1
            offsets[tp] = OffsetAndMetadata(msgs[-1].offset + 1, "", -1)
        # kafka-python 3 passes the group metadata (KIP-447); 2.x only the group id.
        metadata = (consumer.group_metadata() if hasattr(consumer, "group_metadata")
                    else "g-kp")
        producer.send_offsets_to_transaction(offsets, metadata)
        producer.commit_transaction()
    committed = {p: consumer.committed(KTP("in", p)) for p in range(PARTITIONS)}
    consumer.close()
    producer.close()
    values = consume_all(broker.bootstrap, topic="out", partitions=PARTITIONS)
    identified = {r.getMessage().split("identified as ")[1].split(";")[0].split(" ")[0]
                  for r in caplog.records if "Broker version identified as" in r.getMessage()}
    version = ",".join(sorted(identified))
    report(f"processor kafka-python: broker version inferred {version}, records in "
           f"{40 * PARTITIONS}, out {len(values)}, committed {committed}")
    assert sorted(values) == sorted(set(values))
    assert len(values) == 40 * PARTITIONS
    assert committed == {p: 40 for p in range(PARTITIONS)}
    # ApiVersions makes kafka-python infer a broker new enough for KIP-447 and KIP-360 (>= 2.5).
    assert identified and all(tuple(map(int, v.split("."))) >= (2, 5) for v in identified)
