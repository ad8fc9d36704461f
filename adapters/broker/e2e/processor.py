"""A consume-transform-produce processor over confluent-kafka (librdkafka), run as its own process
by test_processor.py so that it can be killed with SIGKILL.

It subscribes to the input topic in a consumer group (classic protocol), and for each batch it
polls: begins a transaction, produces one transformed record per input record to the same
partition of the output topic, and then

* mode `eos`:     sends the consumer's positions with `send_offsets_to_transaction(
                  consumer.position(assignment), consumer.consumer_group_metadata())` and commits
                  the transaction (offsets and output atomically, KIP-98/KIP-447);
* mode `control`: commits the transaction, then commits the offsets outside it with
                  `consumer.commit()` (the at-least-once pattern that must show duplicates).

`--crash AT:STAGE` (one per incarnation) makes the process SIGKILL
itself at its AT-th transaction, at STAGE: `begun` (after begin), `produced` (records sent and
flushed), `offsets` (after send_offsets / before the commit), `committed` (after the commit;
in control mode before the offset commit). The driver picks AT and STAGE from a seed.
An abortable error aborts the transaction and rewinds to the committed offsets; a fatal one exits
with status 3 (the driver restarts it). It exits 0 once `--stop-file` exists.
Events (assignments, aborts) are appended as JSON lines to `--events`.
"""

import argparse
import json
import os
import signal
import sys
import time

from confluent_kafka import (OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer,
                             TopicPartition)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--txn-id", required=True)
    ap.add_argument("--input", default="in")
    ap.add_argument("--output", default="out")
    ap.add_argument("--mode", choices=["eos", "control"], default="eos")
    ap.add_argument("--crash", default="")
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument("--pause", type=float, default=0.0, help="seconds to sleep after a commit")
    ap.add_argument("--stop-file", required=True)
    ap.add_argument("--events", required=True)
    args = ap.parse_args()

    crash_at, crash_stage = None, None
    if args.crash:
        at, crash_stage = args.crash.split(":")
        crash_at = int(at)

    def event(kind, **kw):
        with open(args.events, "a") as f:
            f.write(json.dumps({"pid": os.getpid(), "txn_id": args.txn_id, "event": kind, **kw})
                    + "\n")

    def maybe_crash(n, stage):
        if crash_at == n and crash_stage == stage:
            event("crash", txn=n, stage=stage)
            os.kill(os.getpid(), signal.SIGKILL)

    common = {
        "bootstrap.servers": args.bootstrap,
        "socket.timeout.ms": 5000,
        "reconnect.backoff.ms": 20,
        "reconnect.backoff.max.ms": 200,
        "retry.backoff.ms": 20,
        # librdkafka >= 2.11 re-bootstraps when every broker connection is down (KIP-899), which
        # on a one-node cluster decommissions the node, and a send_offsets_to_transaction whose
        # group coordinator is cached as that node then hangs past its timeout (librdkafka issues
        # #5511, #5456). A dropped response closes the only connection, so turn that off.
        "metadata.recovery.strategy": "none",
    }
    if os.environ.get("PROCESSOR_DEBUG"):
        common["debug"] = os.environ["PROCESSOR_DEBUG"]
    consumer = Consumer({
        **common,
        "group.id": args.group,
        "client.id": args.txn_id,
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 2000,
        "heartbeat.interval.ms": 200,
        "max.poll.interval.ms": 10000,
    })
    producer = Producer({
        **common,
        "transactional.id": args.txn_id,
        "transaction.timeout.ms": 10000,
        "linger.ms": 2,
    })
    producer.init_transactions(30)

    def on_assign(c, partitions):
        event("assign", partitions=[p.partition for p in partitions])

    def on_revoke(c, partitions):
        event("revoke", partitions=[p.partition for p in partitions])

    consumer.subscribe([args.input], on_assign=on_assign, on_revoke=on_revoke)

    def rewind():
        """After an abort: back to the committed offsets of the assignment."""
        assignment = consumer.assignment()
        if not assignment:
            return
        for tp in consumer.committed(assignment, timeout=30):
            offset = tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
            consumer.seek(TopicPartition(tp.topic, tp.partition, offset))

    n = 0
    while not os.path.exists(args.stop_file):
        msgs = [m for m in consumer.consume(num_messages=args.batch, timeout=0.3)
                if m.error() is None]
        if not msgs:
            continue
        n += 1
        try:
            producer.begin_transaction()
            maybe_crash(n, "begun")
            for m in msgs:
                producer.produce(args.output, partition=m.partition(), key=m.key(),
                                 value=f"{m.partition()}:{m.offset()}:{m.value().decode()}")
            producer.flush(30)
            maybe_crash(n, "produced")
            positions = consumer.position(consumer.assignment())
            if args.mode == "eos":
                producer.send_offsets_to_transaction(
                    positions, consumer.consumer_group_metadata(), 30)
            maybe_crash(n, "offsets")
            producer.commit_transaction(30)
            maybe_crash(n, "committed")
            if args.mode == "control":
                consumer.commit(offsets=[p for p in positions if p.offset >= 0],
                                asynchronous=False)
            time.sleep(args.pause)
        except KafkaException as e:
            err = e.args[0]
            if err.txn_requires_abort():
                event("abort", txn=n, error=str(err))
                producer.abort_transaction(30)
                rewind()
            elif err.retriable():
                event("retriable", txn=n, error=str(err))
                producer.abort_transaction(30)
                rewind()
            else:
                event("fatal", txn=n, error=str(err))
                sys.exit(3)
    consumer.close()
    event("stopped", transactions=n)


if __name__ == "__main__":
    main()
