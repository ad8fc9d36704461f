"""Crash recovery with real clients: the broker is killed with SIGKILL at random points of a
run and restarted on the same --data-dir and the same port, several rounds, while librdkafka
keeps running (it reconnects and retries). Asserted: every acknowledged record is read exactly
once (idempotent producer); committed transactions stay committed, aborted ones invisible, the
one open at a crash is aborted and does not hold the LSO (a read_committed consumer reaches the
end); and the control: with --unsafe-disable-dedup the same crashes produce duplicates."""

import os
import random
import signal
import socket
import subprocess
import threading
import time

from confluent_kafka import KafkaException, Producer
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
    """One broker identity (port, data directory) across kill -9 / restart cycles."""

    def __init__(self, tmp_path, *args, flush="every-batch"):
        self.port = free_port()
        self.dir = tmp_path
        self.data = tmp_path / "data"
        self.args = list(args)
        self.flush = flush
        self.proc = None
        self.starts = 0
        self.kills = 0

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.port}"

    def start(self):
        self.starts += 1
        d = self.dir / f"run{self.starts}"
        d.mkdir()
        cmd = [_binary(), "--listen", f"127.0.0.1:{self.port}", "--port-file", str(d / "port"),
               "--data-dir", str(self.data), "--flush", self.flush, "--topic", "t:2",
               *self.args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                     stderr=open(d / "log", "w"), cwd=d)
        deadline = time.time() + 30
        while not ((d / "port").exists() and (d / "port").read_text().strip()):
            assert self.proc.poll() is None, f"broker exited: {(d / 'log').read_text()[-2000:]}"
            assert time.time() < deadline, "broker did not start"
            time.sleep(0.02)

    def kill(self):
        self.kills += 1
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def crash_rounds(broker, stop, rng, rounds=ROUNDS, up=(0.4, 1.5), down=(0.0, 0.3)):
    """Kills and restarts `broker` `rounds` times at random moments, then sets `stop`."""
    try:
        for _ in range(rounds):
            time.sleep(rng.uniform(*up))
            broker.kill()
            time.sleep(rng.uniform(*down))
            broker.start()
    finally:
        stop.set()


def idempotent_crash_run(tmp_path, label, *broker_args, seed=1):
    broker = CrashBroker(tmp_path, *broker_args)
    broker.start()
    try:
        p = Producer({"bootstrap.servers": broker.bootstrap, "enable.idempotence": True,
                      "linger.ms": 5, "batch.num.messages": 100, **CLIENT})
        acked, failed = set(), []

        def on_delivery(err, msg):
            (failed.append(err.str()) if err else acked.add(msg.value().decode()))

        stop = threading.Event()
        killer = threading.Thread(target=crash_rounds, args=(broker, stop, random.Random(seed)))
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
        counts = {"rounds": broker.kills, "produced": i, "acked": len(acked),
                  "unflushed": remaining, "delivery_errors": len(failed),
                  "errors": sorted(set(failed))[:3], "consumed": len(values),
                  "duplicates": duplicates(values), "lost_acked": len(acked - set(values))}
        report(f"{label}: {counts}")
        return counts
    finally:
        broker.stop()


def test_idempotent_producer_survives_kill_9(tmp_path):
    c = idempotent_crash_run(tmp_path, "crash: librdkafka idempotent, dedup ON")
    assert c["rounds"] >= 5, c
    assert c["unflushed"] == 0 and c["delivery_errors"] == 0, c
    assert c["acked"] == c["produced"], c
    assert c["lost_acked"] == 0, c
    assert c["duplicates"] == 0, c


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
    broker = CrashBroker(tmp_path)
    broker.start()
    conf = {"bootstrap.servers": broker.bootstrap, **TXN_CONF}
    committed, aborted, unknown, restarts, errors = [], [], [], 0, []
    try:
        p = Producer(conf)
        p.init_transactions(60)
        stop = threading.Event()
        killer = threading.Thread(target=crash_rounds,
                                  args=(broker, stop, random.Random(3)),
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
        broker.kill()
        broker.start()
        read = consume_all(broker.bootstrap, timeout=90)
        seen = set(read)
        torn = [vs for vs in unknown if 0 < len(seen & set(vs)) < len(vs)]
        c = {"rounds": broker.kills, "transactions": r, "committed": len(committed),
             "aborted": len(aborted), "unknown": len(unknown), "producer_restarts": restarts,
             "errors": sorted(set(errors))[:4], "consumed": len(read),
             "duplicates": duplicates(read),
             "lost_committed": sum(len(set(vs) - seen) for vs in committed),
             "aborted_read": sum(len(set(vs) & seen) for vs in aborted),
             "open_read": len(seen & set(open_values)), "torn_unknown": len(torn)}
        report(f"crash: librdkafka transactional: {c}")
        assert c["rounds"] >= 5, c
        assert c["committed"] > 0 and c["aborted"] > 0, c
        assert c["duplicates"] == 0, c
        assert c["lost_committed"] == 0, c
        assert c["aborted_read"] == 0, c
        assert c["open_read"] == 0, c
        assert c["torn_unknown"] == 0, c
    finally:
        broker.stop()
