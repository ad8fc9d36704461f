"""Crash recovery with real clients: the broker is killed with SIGKILL at random points of a
run and restarted on the same --data-dir and the same port, several rounds, while librdkafka
keeps running (it reconnects and retries). Asserted: every acknowledged record is read exactly
once (idempotent producer); committed transactions stay committed, aborted ones invisible, the
one open at a crash is aborted and does not hold the LSO (a read_committed consumer reaches the
end); and the control: with --unsafe-disable-dedup the same crashes produce duplicates."""

import json
import random
import re
import signal
import socket
import subprocess
import threading
import time

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from conftest import _binary, report
from helpers import consume_all, duplicates

ROUNDS = 6
CLIENT = {
    "socket.timeout.ms": 3000,
    "reconnect.backoff.ms": 20,
    "reconnect.backoff.max.ms": 200,
    "retry.backoff.ms": 20,
    "message.timeout.ms": 120000,
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CrashBroker:
    """One broker identity (port, data directory) across crash / restart cycles. Each start
    may carry a crash point (`--unsafe-crash-after-appends K`: the process ends, as after
    kill -9, right after its K-th data batch is durable and before that Produce is answered);
    the driver also SIGKILLs it at random moments."""

    def __init__(self, tmp_path, *args, flush="every-batch", crash_points=None,
                 topics=("t:2",)):
        self.port = free_port()
        self.dir = tmp_path
        self.data = tmp_path / "data"
        self.args = list(args)
        for t in topics:
            self.args += ["--topic", t]
        self.flush = flush
        self.crash_points = crash_points  # (rng, lo, hi) or None
        self.proc = None
        self.has_crash_point = False
        self.starts = 0
        self.killed = 0
        self.crashed = 0
        self.stats_files = []

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.port}"

    def start(self, crash_point=True):
        self.starts += 1
        d = self.dir / f"run{self.starts}"
        d.mkdir()
        self.stats_files.append(d / "stats.json")
        cmd = [_binary(), "--listen", f"127.0.0.1:{self.port}", "--port-file", str(d / "port"),
               "--stats-file", str(d / "stats.json"), "--data-dir", str(self.data),
               "--flush", self.flush, *self.args]
        self.has_crash_point = bool(self.crash_points and crash_point)
        if self.has_crash_point:
            rng, lo, hi = self.crash_points
            cmd += ["--unsafe-crash-after-appends", str(rng.randint(lo, hi))]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                     stderr=open(d / "log", "w"), cwd=d)
        deadline = time.time() + 30
        while not ((d / "port").exists() and (d / "port").read_text().strip()):
            assert self.proc.poll() is None, f"broker exited: {(d / 'log').read_text()[-2000:]}"
            assert time.time() < deadline, "broker did not start"
            time.sleep(0.02)

    def crash(self, wait):
        """Waits up to `wait` seconds for the crash point, else SIGKILLs the broker."""
        deadline = time.time() + wait
        while time.time() < deadline and self.proc.poll() is None:
            time.sleep(0.01)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.killed += 1
        else:
            assert self.proc.returncode == 137, f"broker exited with {self.proc.returncode}"
            self.crashed += 1
        self.proc.wait(10)

    @property
    def rounds(self):
        return self.killed + self.crashed

    def total(self, counter):
        """A counter summed over the runs (each run's last stats file; a lower bound, the
        file is rewritten every 100 ms)."""
        total = 0
        for f in self.stats_files:
            try:
                total += json.loads(f.read_text()).get(counter, 0)
            except (OSError, ValueError):
                pass
        return total

    def recovered(self, what):
        """`what` (e.g. "Prepare* resumed") summed over the restarts' recovery log lines."""
        total = 0
        for f in self.stats_files:
            for m in re.finditer(rf"(\d+) {re.escape(what)}", (f.parent / "log").read_text()):
                total += int(m.group(1))
        return total

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def stable_offsets(bootstrap, partitions=2):
    """Per partition: (last stable offset, high watermark), from ListOffsets at both isolation
    levels."""
    ends = []
    for isolation in ("read_committed", "read_uncommitted"):
        c = Consumer({"bootstrap.servers": bootstrap, "group.id": "kafka-eos-crash-lso",
                      "isolation.level": isolation})
        try:
            ends.append([c.get_watermark_offsets(TopicPartition("t", p), timeout=10)[1]
                         for p in range(partitions)])
        finally:
            c.close()
    return list(zip(*ends))


def wait_stable(bootstrap, timeout):
    """Waits (bounded) until every partition's LSO reached its high watermark: no transaction
    is left open. Returns the last (LSO, HW) pairs."""
    deadline = time.time() + timeout
    while True:
        pairs = stable_offsets(bootstrap)
        if all(lso == hw for lso, hw in pairs) or time.time() > deadline:
            return pairs
        time.sleep(0.5)


CRASH_POINT_WAIT = 20.0


def crash_rounds(broker, stop, rng, rounds=ROUNDS, up=(0.4, 1.5), down=(0.0, 0.3)):
    """Crashes and restarts `broker` `rounds` times, then sets `stop`: alternately at its crash
    point (a start with one; bounded wait, then SIGKILL) and by a SIGKILL at a random moment.
    The last restart has no crash point."""
    try:
        for r in range(rounds):
            broker.crash(CRASH_POINT_WAIT if broker.has_crash_point else rng.uniform(*up))
            time.sleep(rng.uniform(*down))
            broker.start(crash_point=r % 2 == 1 and r < rounds - 1)
    finally:
        stop.set()


def idempotent_crash_run(tmp_path, label, *broker_args, seed=1, flush="every-batch"):
    rng = random.Random(seed)
    broker = CrashBroker(tmp_path, *broker_args, flush=flush, crash_points=(rng, 20, 300))
    broker.start()
    try:
        p = Producer({"bootstrap.servers": broker.bootstrap, "enable.idempotence": True,
                      "linger.ms": 5, "batch.num.messages": 100, **CLIENT})
        acked, failed = set(), []

        def on_delivery(err, msg):
            (failed.append(err.str()) if err else acked.add(msg.value().decode()))

        stop = threading.Event()
        killer = threading.Thread(target=crash_rounds, args=(broker, stop, rng))
        killer.start()
        i = 0
        while not stop.is_set():
            try:
                p.produce("t", key=str(i), value=f"c{i}", on_delivery=on_delivery)
                i += 1
            except BufferError:
                p.poll(0.05)
            p.poll(0)
            if i % 200 == 0:
                time.sleep(0.01)
        killer.join()
        for _ in range(200):  # a tail after the last restart
            p.produce("t", key=str(i), value=f"c{i}", on_delivery=on_delivery)
            i += 1
        remaining = p.flush(120)
        values = consume_all(broker.bootstrap, timeout=60)
        counts = {"rounds": broker.rounds, "killed": broker.killed,
                  "crash_points": broker.crashed, "produced": i, "acked": len(acked),
                  "unflushed": remaining, "delivery_errors": len(failed),
                  "errors": sorted(set(failed))[:3], "consumed": len(values),
                  "duplicates": duplicates(values), "lost_acked": len(acked - set(values)),
                  "broker_duplicates_suppressed": broker.total("duplicates_suppressed")}
        report(f"{label}: {counts}")
        return counts
    finally:
        broker.stop()


@pytest.mark.parametrize("flush", ["every-batch", "interval=200"])
def test_idempotent_producer_survives_kill_9(tmp_path, flush):
    """Under either flush policy: a kill -9 loses nothing written to the OS before the answer
    (`interval` only risks a power failure)."""
    c = idempotent_crash_run(tmp_path, f"crash: librdkafka idempotent, dedup ON, flush {flush}",
                             flush=flush)
    assert c["rounds"] >= 5 and c["crash_points"] > 0, c
    assert c["unflushed"] == 0 and c["delivery_errors"] == 0, c
    assert c["acked"] == c["produced"], c
    assert c["lost_acked"] == 0, c
    assert c["duplicates"] == 0, c
    # Batches durable before the crash were retried and recognised from the recovered state.
    assert c["broker_duplicates_suppressed"] > 0, c


def test_dedup_disabled_crash_run_finds_duplicates(tmp_path):
    """The control: the same crashes against the core with duplicate detection off (M-I1): a
    batch made durable whose answer the kill swallowed is retried by the client and appended
    again."""
    c = idempotent_crash_run(tmp_path, "crash: librdkafka idempotent, dedup OFF",
                             "--unsafe-disable-dedup")
    assert c["rounds"] >= 5, c
    assert c["duplicates"] > 0, c


TXN_CONF = {"transactional.id": "crashy", "linger.ms": 2, "batch.num.messages": 20,
            "transaction.timeout.ms": 10000, **CLIENT, "message.timeout.ms": 10000}


def test_transactions_survive_kill_9(tmp_path):
    rng = random.Random(3)
    broker = CrashBroker(tmp_path, crash_points=(rng, 5, 45))
    broker.start()
    conf = {"bootstrap.servers": broker.bootstrap, **TXN_CONF}
    committed, aborted, unknown, restarts, errors = [], [], [], 0, []
    try:
        p = Producer(conf)
        p.init_transactions(60)
        stop = threading.Event()
        killer = threading.Thread(target=crash_rounds,
                                  args=(broker, stop, rng),
                                  kwargs={"up": (0.5, 2.0)})
        killer.start()
        r = 0
        while not stop.is_set() or r < 10:
            values = [f"x{r}-{j}" for j in range(10)]
            want_commit = r % 4 != 3
            try:
                p.begin_transaction()
                for v in values:
                    p.produce("t", value=v)
                    p.poll(0)
                p.flush(30)
                if want_commit:
                    p.commit_transaction(60)
                    committed.append(values)
                else:
                    p.abort_transaction(60)
                    aborted.append(values)
            except KafkaException as e:
                err = e.args[0]
                errors.append(err.str())
                if err.txn_requires_abort():
                    try:
                        p.abort_transaction(60)
                        aborted.append(values)
                    except KafkaException as e2:
                        errors.append(e2.args[0].str())
                        unknown.append(values)
                        restarts += 1
                        p = Producer(conf)
                        p.init_transactions(60)
                else:
                    # An outcome the client does not know (e.g. EndTxn unanswered at the
                    # kill): a fresh producer fences this one; the transaction must then be
                    # all or nothing.
                    unknown.append(values)
                    restarts += 1
                    p = Producer(conf)
                    p.init_transactions(60)
            r += 1
        killer.join()
        # The last crash lands inside an open transaction whose producer never comes back:
        # the restarted coordinator must abort it on its timeout, or the LSO hangs.
        p.begin_transaction()
        open_values = [f"open-{j}" for j in range(10)]
        for v in open_values:
            p.produce("t", value=v)
        p.flush(30)
        broker.crash(0)
        broker.start(crash_point=False)
        held = stable_offsets(broker.bootstrap)
        # The coordinator aborts it after transaction.timeout.ms (10 s) from its start.
        stable = wait_stable(broker.bootstrap, timeout=60)
        read = consume_all(broker.bootstrap, timeout=90)
        time.sleep(0.3)  # the last stats file
        seen = set(read)
        torn = [vs for vs in unknown if 0 < len(seen & set(vs)) < len(vs)]
        c = {"rounds": broker.rounds, "killed": broker.killed, "crash_points": broker.crashed,
             "transactions": r, "committed": len(committed),
             "aborted": len(aborted), "unknown": len(unknown), "producer_restarts": restarts,
             "errors": sorted(set(errors))[:4], "consumed": len(read),
             "duplicates": duplicates(read),
             "lost_committed": sum(len(set(vs) - seen) for vs in committed),
             "aborted_read": sum(len(set(vs) & seen) for vs in aborted),
             "open_read": len(seen & set(open_values)), "torn_unknown": len(torn),
             "lso_hw_at_restart": held, "lso_hw_after": stable,
             "broker_timed_out": broker.total("transactions_timed_out"),
             "prepare_resumed": broker.recovered("Prepare* resumed"),
             "ongoing_at_restart": broker.recovered("Ongoing")}
        report(f"crash: librdkafka transactional: {c}")
        assert c["rounds"] >= 5, c
        assert c["committed"] > 0 and c["aborted"] > 0, c
        assert c["duplicates"] == 0, c
        assert c["lost_committed"] == 0, c
        assert c["aborted_read"] == 0, c
        assert c["open_read"] == 0, c
        assert any(lso < hw for lso, hw in held), c  # the open transaction held the LSO ...
        assert all(lso == hw for lso, hw in stable), c  # ... until its timeout abort
        assert c["broker_timed_out"] >= 1, c
        assert c["torn_unknown"] == 0, c
    finally:
        broker.stop()


def test_processor_exactly_once_across_broker_crashes(tmp_path):
    """The consume-transform-produce processor (test_processor.py's, not crashing itself) while
    the broker crashes: its group's committed offsets (the offsets logs), its transactions (the
    transaction log) and its output (the partition logs) come back after every restart, its
    group membership does not (it rejoins). The read_committed output must be exactly the input,
    in order."""
    from test_processor import (BROKER_ARGS, PARTITIONS, Slot, assert_exactly_once,
                                committed_offsets, produce_input)
    rng = random.Random(17)
    per_partition = 300
    broker = CrashBroker(tmp_path, *BROKER_ARGS, crash_points=(rng, 10, 60),
                         topics=(f"in:{PARTITIONS}", f"out:{PARTITIONS}"))
    broker.start(crash_point=False)
    group = "g-broker-crash"
    slot = Slot("proc-x", random.Random(1), 0, "eos", tmp_path, broker.bootstrap, group, 0.1)
    try:
        produce_input(broker.bootstrap, per_partition)
        broker.stop()
        broker.start()
        slot.start()
        end = {p: per_partition for p in range(PARTITIONS)}
        deadline, done = time.time() + 240, False
        next_crash = time.time() + rng.uniform(2.0, 5.0)
        crash_wait = time.time() + CRASH_POINT_WAIT
        while time.time() < deadline:
            time.sleep(0.3)
            slot.check()
            if broker.has_crash_point:
                due = broker.proc.poll() is not None or time.time() > crash_wait
            else:
                due = time.time() > next_crash
            if broker.rounds < ROUNDS and due:
                broker.crash(0)
                time.sleep(rng.uniform(0.0, 0.3))
                broker.start(crash_point=broker.rounds % 2 == 0 and broker.rounds < ROUNDS)
                next_crash = time.time() + rng.uniform(2.0, 5.0)
                crash_wait = time.time() + CRASH_POINT_WAIT
            elif broker.rounds >= ROUNDS and committed_offsets(broker.bootstrap, group) == end:
                done = True
                break
        (tmp_path / "stop").write_text("stop")
        slot.stop()
        assert done, "input not consumed"
        values = consume_all(broker.bootstrap, topic="out", partitions=PARTITIONS, timeout=60)
        by_partition = {p: [] for p in range(PARTITIONS)}
        for v in values:
            part, offset, _ = v.split(":", 2)
            by_partition[int(part)].append(int(offset))
        counts = {
            "records_in": per_partition * PARTITIONS, "records_out": len(values),
            "duplicates": len(values) - len({(p, o) for p, os_ in by_partition.items()
                                             for o in os_}),
            "rounds": broker.rounds, "killed": broker.killed, "crash_points": broker.crashed,
            "processor_fatal_restarts": slot.fatal_restarts,
            "markers_written": broker.total("markers_written"),
            "transactions_timed_out": broker.total("transactions_timed_out"),
        }
        report(f"crash: processor across broker crashes: {counts}")
        assert counts["rounds"] >= 5 and counts["crash_points"] > 0, counts
        assert_exactly_once(counts, by_partition, per_partition)
    finally:
        (tmp_path / "stop").write_text("stop")
        if slot.proc:
            slot.stop()
        broker.stop()
