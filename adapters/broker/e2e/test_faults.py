"""Real clients through the fault-injecting proxy: dropped responses, requests held past the
client's retry and delivered late, cut connections. Safety is asserted (no duplicate, no lost
acknowledged record, no aborted read) together with proof that the faults happened; the same
run with the core's duplicate detection switched off (test-only `--unsafe-disable-dedup`) must
find duplicates."""

import time

import pytest

from confluent_kafka import KafkaException, Producer
from conftest import report
from helpers import consume_all, duplicates
from kafka import KafkaProducer

PRODUCE, ADD_PARTITIONS, END_TXN, INIT_PID = 0, 24, 26, 22
FAST_RETRY = {
    "socket.timeout.ms": 3000,
    "reconnect.backoff.ms": 10,
    "reconnect.backoff.max.ms": 100,
    "retry.backoff.ms": 10,
    "message.timeout.ms": 60000,
}


def idempotent_run(spawn, label, broker_args=(), n=3000, seed=7):
    proxy, broker = spawn.proxied_broker(
        proxy_args=["--apis", str(PRODUCE), "--drop", "0.25", "--hold", "0.08", "--cut", "0.03",
                    "--hold-ms", "400", "--seed", str(seed), "--max-faults", "40"],
        broker_args=broker_args)
    p = Producer({"bootstrap.servers": proxy.bootstrap, "enable.idempotence": True,
                  "linger.ms": 2, "batch.num.messages": 50, **FAST_RETRY})
    acked, failed = set(), []
    def on_delivery(err, msg):
        if err:
            failed.append(err)
        else:
            acked.add(msg.value().decode())
    for i in range(n):
        p.produce("t", key=str(i), value=f"f{i}", on_delivery=on_delivery)
        p.poll(0)
        if i % 500 == 499:
            p.flush(30)  # several rounds, so that faults land on many batches
    assert p.flush(60) == 0
    time.sleep(0.8)  # let held requests arrive late
    values = consume_all(broker.bootstrap)
    counts = {
        "faults": proxy.stats(),
        "broker": broker.stats(),
        "acked": len(acked),
        "delivery_errors": len(failed),
        "consumed": len(values),
        "duplicates": duplicates(values),
        "lost_acked": len(acked - set(values)),
    }
    report(f"{label}: {counts}")
    return counts


def test_idempotent_librdkafka_under_faults(spawn):
    c = idempotent_run(spawn, "librdkafka idempotent, dedup ON")
    f = c["faults"]
    assert f["dropped"] > 0 and f["held"] + f["cut"] > 0, f
    assert c["broker"]["duplicates_suppressed"] > 0, c
    assert c["duplicates"] == 0, c
    assert c["lost_acked"] == 0, c
    assert c["acked"] == 3000, c


def test_idempotent_librdkafka_requests_held_past_client_timeout(spawn):
    """Produce requests held silently until librdkafka's own request timeout closes the
    connection, then delivered late (after the client's retry): the core answers them as
    duplicates or refuses them; nothing is written twice."""
    proxy, broker = spawn.proxied_broker(
        proxy_args=["--apis", str(PRODUCE), "--hold", "0.15", "--hold-mode", "timeout",
                    "--hold-ms", "200", "--seed", "5", "--max-faults", "3"])
    p = Producer({"bootstrap.servers": proxy.bootstrap, "enable.idempotence": True,
                  "linger.ms": 2, "batch.num.messages": 50, **FAST_RETRY,
                  "request.timeout.ms": 1500, "socket.timeout.ms": 1500})
    acked, failed = set(), []
    def on_delivery(err, msg):
        (failed.append(err) if err else acked.add(msg.value().decode()))
    for i in range(1500):
        p.produce("t", key=str(i), value=f"h{i}", on_delivery=on_delivery)
        p.poll(0)
        if i % 100 == 99:
            p.flush(30)
    assert p.flush(60) == 0
    time.sleep(0.8)
    values = consume_all(broker.bootstrap)
    c = {"faults": proxy.stats(), "broker": broker.stats(), "acked": len(acked),
         "delivery_errors": len(failed), "consumed": len(values),
         "duplicates": duplicates(values), "lost_acked": len(acked - set(values))}
    report(f"librdkafka idempotent, held past client timeout: {c}")
    assert c["faults"]["timed_out_by_client"] > 0 and c["faults"]["late_delivered"] > 0, c
    assert c["duplicates"] == 0, c
    assert c["lost_acked"] == 0, c
    assert c["acked"] == 1500, c


def test_dedup_disabled_run_finds_duplicates(spawn):
    """The same run against the broker with the core's duplicate detection off (known bug
    M-I1): the safety check above must fail, i.e. duplicates are consumed."""
    c = idempotent_run(spawn, "librdkafka idempotent, dedup OFF (--unsafe-disable-dedup)",
                       broker_args=["--unsafe-disable-dedup"])
    assert c["faults"]["dropped"] > 0, c
    assert c["broker"]["duplicates_suppressed"] == 0, c
    assert c["duplicates"] > 0, c


def test_idempotent_kafka_python_under_faults(spawn):
    proxy, broker = spawn.proxied_broker(
        proxy_args=["--apis", str(PRODUCE), "--drop", "0.3", "--seed", "3", "--max-faults", "25"])
    p = KafkaProducer(bootstrap_servers=proxy.bootstrap, enable_idempotence=True, linger_ms=2,
                      batch_size=2048, request_timeout_ms=5000, retry_backoff_ms=10,
                      reconnect_backoff_ms=10, delivery_timeout_ms=60000)
    futures = {}
    for i in range(2000):
        futures[f"p{i}"] = p.send("t", value=f"p{i}".encode())
        if i % 200 == 199:
            p.flush(30)
    p.flush(60)
    p.close(5)
    acked = {v for v, f in futures.items() if f.succeeded()}
    values = consume_all(broker.bootstrap)
    c = {"faults": proxy.stats(), "broker": broker.stats(), "acked": len(acked),
         "consumed": len(values), "duplicates": duplicates(values),
         "lost_acked": len(acked - set(values))}
    report(f"kafka-python idempotent, dedup ON: {c}")
    assert c["faults"]["dropped"] > 0, c
    assert c["duplicates"] == 0, c
    assert c["lost_acked"] == 0, c


@pytest.mark.parametrize("hold_mode", ["close", "timeout"])
def test_transactions_librdkafka_under_faults(spawn, hold_mode):
    """30 transactions (commit, commit, abort, ...) with dropped Produce / AddPartitionsToTxn /
    EndTxn responses and Produce requests delivered late (after a cut, or after the client's own
    request timeout): a late transactional Produce meets KIP-890 part 1 verification and the
    sequence checks in the core."""
    proxy, broker = spawn.proxied_broker(
        proxy_args=["--apis", f"{PRODUCE},{ADD_PARTITIONS},{END_TXN}", "--drop", "0.15",
                    "--hold", "0.05", "--hold-mode", hold_mode, "--hold-ms", "300",
                    "--seed", "11", "--max-faults", "30"])
    conf = {"bootstrap.servers": proxy.bootstrap, "transactional.id": "faulty", "linger.ms": 2,
            "batch.num.messages": 20, **FAST_RETRY, "transaction.timeout.ms": 20000,
            "message.timeout.ms": 20000}
    if hold_mode == "timeout":
        conf.update({"request.timeout.ms": 1500, "socket.timeout.ms": 1500})
    p = Producer(conf)
    p.init_transactions(30)
    committed, aborted, unknown, restarts, fatal = [], [], [], 0, []
    for r in range(30):
        values = [f"x{r}-{i}" for i in range(20)]
        want_commit = r % 3 != 2
        try:
            p.begin_transaction()
            for v in values:
                p.produce("t", value=v)
                p.poll(0)
            p.flush(30)
            if want_commit:
                p.commit_transaction(30)
                committed += values
            else:
                p.abort_transaction(30)
                aborted += values
        except KafkaException as e:
            err = e.args[0]
            if err.txn_requires_abort():
                p.abort_transaction(30)
                aborted += values
            else:
                # Fatal or unknown outcome: a fresh producer fences this one; the round's
                # outcome is whatever the core decided and is checked only for duplicates.
                unknown += values
                restarts += 1
                fatal.append(err.str())
                p = Producer(conf)
                p.init_transactions(30)
    time.sleep(0.8)
    values = consume_all(broker.bootstrap)
    seen = set(values)
    c = {"faults": proxy.stats(), "broker": broker.stats(), "committed": len(committed),
         "aborted": len(aborted), "unknown": len(unknown), "restarts": restarts,
         "non_abortable_errors": fatal,
         "consumed": len(values), "duplicates": duplicates(values),
         "lost_committed": len(set(committed) - seen), "aborted_read": len(set(aborted) & seen)}
    report(f"librdkafka transactional, 30 txns, hold mode {hold_mode}: {c}")
    assert c["faults"]["dropped"] + c["faults"]["held"] > 0, c
    assert c["duplicates"] == 0, c
    assert c["lost_committed"] == 0, c
    assert c["aborted_read"] == 0, c
    assert c["committed"] > 0 and c["aborted"] > 0, c
