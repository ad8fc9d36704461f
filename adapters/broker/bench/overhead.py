"""Overhead of idempotence and transactions through kafka-eos-broker, measured with librdkafka.

Run by hand (not in CI), from the repository root:

    cargo build --release -p kafka-eos-broker
    target/e2e-venv/bin/python adapters/broker/bench/overhead.py \
        --broker target/release/kafka-eos-broker --records 100000 --repeats 5 \
        [--storage in-memory,durable] [--flush every-batch] [--broker-arg=--some-flag ...]

Each run starts a fresh broker (topic t, 2 partitions) and one confluent-kafka producer that sends
`--records` records of `--size` bytes (default 1 KB) as fast as it can, `acks=all`, and measures
records per second from the first `produce()` to the end of `flush()`. Modes:

* plain:         enable.idempotence=false
* idempotent:    enable.idempotence=true
* transactional: transactional.id set, a commit every `--commit-ms` (default 100 ms)

Storage (`--storage`, a comma-separated list; default `in-memory`): `in-memory` starts the broker
with `--in-memory`; `durable` with a fresh `--data-dir` per run and `--flush` (default
`every-batch`: fsync before the answer). Every mode runs under every storage, and the ratio
durable / in-memory is reported per mode. `--broker-arg` (repeatable) is passed to every broker.

Every mode uses acks=all and at most 5 requests in flight per connection (what idempotence
imposes). Modes are interleaved, in an order rotated each repeat, so that drift on the machine
hits all of them alike; the median of the repeats is reported, with the two ratios
idempotent/plain and transactional/idempotent (Kafka's published figure: ~3% cost for
transactions committing every 100 ms with 1 KB records, negligible cost for idempotence).
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from confluent_kafka import Producer


def start_broker(binary, workdir, extra_args):
    port_file = os.path.join(workdir, "port")
    if os.path.exists(port_file):
        os.remove(port_file)
    proc = subprocess.Popen([binary, "--listen", "127.0.0.1:0", "--topic", "t:2",
                             "--port-file", port_file, *extra_args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline:
        if os.path.exists(port_file):
            text = open(port_file).read().strip()
            if text:
                return proc, int(text)
        time.sleep(0.02)
    proc.kill()
    raise RuntimeError("broker did not start")


def broker_cpu_seconds(pid):
    """User + system CPU time of the broker process so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ratio(a, b):
    """a / b, or NaN when b is 0 (a run too short for the CPU clock's ticks)."""
    return a / b if b else float("nan")


def storage_args(storage, workdir, flush, run_id):
    """The broker flags of a storage kind; a durable run gets a fresh data directory."""
    if storage == "in-memory":
        return ["--in-memory"]
    data_dir = os.path.join(workdir, f"data-{run_id}")
    return ["--data-dir", data_dir, "--flush", flush]


def run(mode, binary, records, size, commit_ms, workdir, extra_args):
    proc, port = start_broker(binary, workdir, extra_args)
    try:
        # Same delivery settings in every mode (idempotence forces acks=all and at most 5
        # requests in flight per connection; the plain producer gets the same), so that the
        # ratios measure the protocol, not a different pipelining depth.
        conf = {"bootstrap.servers": f"127.0.0.1:{port}", "acks": "all", "linger.ms": 5,
                "max.in.flight.requests.per.connection": 5,
                "queue.buffering.max.messages": 1000000, "queue.buffering.max.kbytes": 2097151}
        if mode == "plain":
            conf["enable.idempotence"] = False
        elif mode == "idempotent":
            conf["enable.idempotence"] = True
        else:
            conf["transactional.id"] = "bench"
        p = Producer(conf)
        if mode == "transactional":
            p.init_transactions(30)
        payload = b"x" * size
        failures = []

        def on_delivery(err, _msg):
            if err:
                failures.append(err)

        start = time.perf_counter()
        if mode == "transactional":
            p.begin_transaction()
            last_commit = start
        for i in range(records):
            while True:
                try:
                    p.produce("t", value=payload, key=str(i % 64), on_delivery=on_delivery)
                    break
                except BufferError:
                    p.poll(0.001)
            if i % 1000 == 0:
                p.poll(0)
            if mode == "transactional":
                now = time.perf_counter()
                if (now - last_commit) * 1000 >= commit_ms:
                    p.commit_transaction(30)
                    p.begin_transaction()
                    last_commit = now
        if mode == "transactional":
            p.commit_transaction(30)
        remaining = p.flush(120)
        elapsed = time.perf_counter() - start
        assert remaining == 0 and not failures, (remaining, failures[:3])
        return records / elapsed, broker_cpu_seconds(proc.pid)
    finally:
        proc.kill()
        proc.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--broker", default="target/release/kafka-eos-broker")
    ap.add_argument("--records", type=int, default=100000)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--commit-ms", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--storage", default="in-memory",
                    help="comma-separated: in-memory, durable")
    ap.add_argument("--flush", default="every-batch", help="--flush of durable runs")
    ap.add_argument("--broker-arg", action="append", default=[],
                    help="an extra broker argument (repeatable; --broker-arg=--flag)")
    args = ap.parse_args()
    modes = ["plain", "idempotent", "transactional"]
    storages = args.storage.split(",")
    for s in storages:
        if s not in ("in-memory", "durable"):
            ap.error(f"unknown storage {s!r}")
    cases = [(s, m) for s in storages for m in modes]
    results = {c: [] for c in cases}
    cpu = {c: [] for c in cases}
    runs = 0
    with tempfile.TemporaryDirectory() as workdir:
        for r in range(args.repeats):
            # Rotate the order each repeat so that no case always runs first or last.
            k = r % len(cases)
            for s, m in cases[k:] + cases[:k]:
                runs += 1
                extra = storage_args(s, workdir, args.flush, runs) + args.broker_arg
                rate, seconds = run(m, args.broker, args.records, args.size, args.commit_ms,
                                    workdir, extra)
                # A durable run leaves --records × --size bytes of log: free the disk at once.
                shutil.rmtree(os.path.join(workdir, f"data-{runs}"), ignore_errors=True)
                results[(s, m)].append(rate)
                cpu[(s, m)].append(seconds * 1e6 / args.records)
                print(f"run {r + 1} {s:9s} {m:13s} {rate:10.0f} records/s  broker CPU "
                      f"{cpu[(s, m)][-1]:.2f} us/record", file=sys.stderr)
    med = {c: statistics.median(v) for c, v in results.items()}
    med_cpu = {c: statistics.median(v) for c, v in cpu.items()}
    print(f"records={args.records} size={args.size}B commit_every={args.commit_ms}ms "
          f"repeats={args.repeats} flush={args.flush} extra={args.broker_arg} "
          f"(median records/s)")
    print("| storage | mode | median records/s | MB/s | broker CPU us/record | runs (records/s) |")
    print("|---|---|---|---|---|---|")
    for s, m in cases:
        c = (s, m)
        rates = ", ".join(f"{x:.0f}" for x in results[c])
        print(f"| {s} | {m} | {med[c]:.0f} | {med[c] * args.size / 1e6:.1f} | "
              f"{med_cpu[c]:.2f} | {rates} |")
    for s in storages:
        print(f"\n[{s}] throughput idempotent / plain = "
              f"{ratio(med[(s, 'idempotent')], med[(s, 'plain')]):.3f}")
        print(f"[{s}] throughput transactional / idempotent = "
              f"{ratio(med[(s, 'transactional')], med[(s, 'idempotent')]):.3f}")
        print(f"[{s}] broker CPU per record plain / idempotent = "
              f"{ratio(med_cpu[(s, 'plain')], med_cpu[(s, 'idempotent')]):.3f}")
        print(f"[{s}] broker CPU per record idempotent / transactional = "
              f"{ratio(med_cpu[(s, 'idempotent')], med_cpu[(s, 'transactional')]):.3f}")
    if "durable" in storages and "in-memory" in storages:
        for m in modes:
            print(f"[{m}] throughput durable / in-memory = "
                  f"{ratio(med[('durable', m)], med[('in-memory', m)]):.3f}; broker CPU per record "
                  f"in-memory / durable = "
                  f"{ratio(med_cpu[('in-memory', m)], med_cpu[('durable', m)]):.3f}")


if __name__ == "__main__":
    main()
