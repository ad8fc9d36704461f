"""`/metrics` (--metrics-addr) scraped during and after a fault run with real clients: an
idempotent librdkafka producer and transactional ones through the fault proxy (dropped Produce
responses, so retries meet the core's duplicate detection), some transactions aborted, a zombie
fenced. The counters must equal the run's own counts and the stats file's."""

import re
import time
import urllib.request

from confluent_kafka import KafkaException, Producer
from conftest import report
from helpers import consume_all, duplicates

PRODUCE = 0
FAST_RETRY = {
    "socket.timeout.ms": 3000,
    "reconnect.backoff.ms": 10,
    "reconnect.backoff.max.ms": 100,
    "retry.backoff.ms": 10,
    "message.timeout.ms": 60000,
}
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$")


def metrics_address(log_path, proc, timeout=15.0):
    """The address the broker logged for /metrics (`serving /metrics addr=HOST:PORT`)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        m = re.search(r"serving /metrics addr=(\S+)", log_path.read_text())
        if m:
            return m.group(1)
        assert proc.poll() is None, "broker exited"
        time.sleep(0.05)
    raise TimeoutError("no metrics address in the broker's log")


def scrape(addr):
    """GET /metrics, parsed into {series: value}; every line must be a comment or a sample."""
    with urllib.request.urlopen(f"http://{addr}/metrics", timeout=10) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = r.read().decode()
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("# HELP ") or line.startswith("# TYPE "):
            continue
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        samples[m.group(1)] = float(m.group(2))
    return samples


def total(samples, name):
    """The sum of every series of `name` (any labels)."""
    return sum(v for k, v in samples.items() if k == name or k.startswith(name + "{"))


def test_metrics_match_the_fault_runs_counts(spawn):
    proxy, broker = spawn.proxied_broker(
        proxy_args=["--apis", str(PRODUCE), "--drop", "0.2", "--seed", "13",
                    "--max-faults", "30"],
        broker_args=["--metrics-addr", "127.0.0.1:0"])
    log = broker.stats_file.parent / "log"
    addr = metrics_address(log, broker.proc)

    # 1. Idempotent producer; scraped between rounds: counters never go down.
    p = Producer({"bootstrap.servers": proxy.bootstrap, "enable.idempotence": True,
                  "linger.ms": 2, "batch.num.messages": 50, **FAST_RETRY})
    acked = set()
    def on_delivery(err, msg):
        if not err:
            acked.add(msg.value().decode())
    previous = {}
    for i in range(1500):
        p.produce("t", value=f"i{i}", on_delivery=on_delivery)
        p.poll(0)
        if i % 300 == 299:
            p.flush(30)
            now = scrape(addr)
            for k, v in previous.items():
                if k.endswith("_total"):
                    assert now[k] >= v, (k, v, now[k])
            previous = now
    assert p.flush(60) == 0

    # 2. Transactions through the same proxy: commit, commit, abort, ...
    conf = {"bootstrap.servers": proxy.bootstrap, "transactional.id": "metrics", "linger.ms": 2,
            "batch.num.messages": 20, **FAST_RETRY, "transaction.timeout.ms": 30000,
            "message.timeout.ms": 20000}
    t = Producer(conf)
    t.init_transactions(30)
    committed, aborted, lost_producers = 0, 0, 0
    for r in range(12):
        try:
            t.begin_transaction()
            for i in range(20):
                t.produce("t", value=f"x{r}-{i}")
                t.poll(0)
            t.flush(30)
            if r % 3 != 2:
                t.commit_transaction(30)
                committed += 1
            else:
                t.abort_transaction(30)
                aborted += 1
        except KafkaException as e:
            if e.args[0].txn_requires_abort():
                t.abort_transaction(30)
                aborted += 1
            else:  # unknown outcome: a fresh producer fences this one
                lost_producers += 1
                t = Producer(conf)
                t.init_transactions(30)

    # 3. An open transaction: the gauges see it.
    t.begin_transaction()
    for i in range(5):
        t.produce("t", value=f"open-{i}")
    t.flush(30)
    time.sleep(0.2)
    during = scrape(addr)
    assert during["kafka_eos_open_transactions"] >= 1, during
    assert during["kafka_eos_oldest_open_transaction_age_ms"] >= 200, during
    assert total(during, "kafka_eos_last_stable_offset_lag") >= 1, during

    # 4. A zombie: a second producer with the same transactional id fences the open transaction
    # (the coordinator bumps the epoch and aborts it); the zombie's commit is refused.
    fenced_before = total(during, "kafka_eos_producers_fenced_total")
    bumps_before = during["kafka_eos_epoch_bumps_total"]
    successor = Producer(conf)
    successor.init_transactions(30)
    aborted += 1
    try:
        t.produce("t", value="zombie")
        t.commit_transaction(10)
        raise AssertionError("the zombie committed")
    except KafkaException as e:
        assert e.args[0].fatal() or e.args[0].txn_requires_abort(), e
    successor.begin_transaction()
    successor.produce("t", value="after-zombie")
    successor.commit_transaction(30)
    committed += 1

    time.sleep(0.8)  # the stats file is rewritten every 100 ms
    values = consume_all(broker.bootstrap)
    after = scrape(addr)
    stats = broker.stats()
    counts = {"acked": len(acked), "committed": committed, "aborted": aborted,
              "lost_producers": lost_producers, "consumed": len(values),
              "duplicates": duplicates(values), "faults": proxy.stats(),
              "metrics": {k: v for k, v in after.items() if "transactions" in k
                          or "duplicates" in k or "fenced" in k or "epoch" in k
                          or "sequence" in k}}
    report(f"metrics fault run: {counts}")

    assert proxy.stats()["dropped"] > 0, counts
    assert len(acked) == 1500 and duplicates(values) == 0, counts
    # Every transaction the client committed or aborted, and the fenced one, exactly once. A
    # producer lost to an unknown outcome leaves one transaction whose outcome only the broker
    # knows (committed, or aborted by the successor's fence).
    m_committed = after["kafka_eos_transactions_committed_total"]
    m_aborted = after["kafka_eos_transactions_aborted_total"]
    if lost_producers == 0:
        assert (m_committed, m_aborted) == (committed, aborted), counts
    else:
        assert committed <= m_committed <= committed + lost_producers, counts
        assert aborted <= m_aborted <= aborted + lost_producers, counts
    assert after["kafka_eos_transactions_timed_out_total"] == 0, counts
    # Duplicates: induced by the dropped responses, and the same number as the stats file's.
    assert after["kafka_eos_duplicates_suppressed_total"] >= 1, counts
    assert after["kafka_eos_duplicates_suppressed_total"] == stats["duplicates_suppressed"], counts
    assert after["kafka_eos_markers_written_total"] == stats["markers_written"], counts
    assert after["kafka_eos_batches_appended_total"] == stats["batches_appended"], counts
    assert after["kafka_eos_transactions_committed_total"] == \
        stats["eos"]["transactions_committed"], counts
    assert after["kafka_eos_out_of_order_sequence_total"] == \
        stats["produce_errors"].get("45", 0), counts
    # The zombie: fenced answers and at least two epoch bumps (the fence, the successor's).
    assert total(after, "kafka_eos_producers_fenced_total") > fenced_before, counts
    assert after["kafka_eos_epoch_bumps_total"] >= bumps_before + 2, counts
    assert after["kafka_eos_epoch_bumps_total"] == stats["eos"]["epoch_bumps"], counts
    # Nothing open at the end: no LSO lag anywhere, no open transaction.
    assert total(after, "kafka_eos_last_stable_offset_lag") == 0, counts
    assert after["kafka_eos_open_transactions"] == 0, counts
    assert after["kafka_eos_oldest_open_transaction_age_ms"] == 0, counts
