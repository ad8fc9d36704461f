"""Overhead of idempotence and transactions through kafka-eos-broker, measured with librdkafka.

Run by hand (not in CI), from the repository root:

    cargo build --release -p kafka-eos-broker
    target/e2e-venv/bin/python adapters/broker/bench/overhead.py \
        --broker target/release/kafka-eos-broker --records 100000 --repeats 5

Each run starts a fresh broker (topic t, 2 partitions, a fresh data directory; `--storage` passes
storage flags such as `--in-memory` or `--flush interval=100`) and one confluent-kafka producer that sends
`--records` records of `--size` bytes (default 1 KB) as fast as it can, `acks=all`, and measures
records per second from the first `produce()` to the end of `flush()`. Modes:

* plain:         enable.idempotence=false
* idempotent:    enable.idempotence=true
* transactional: transactional.id set, a commit every `--commit-ms` (default 100 ms)

Every mode uses acks=all and at most 5 requests in flight per connection (what idempotence
imposes). Modes are interleaved, in an order rotated each repeat, so that drift on the machine
hits all of them alike; the median of the repeats is reported, with the two ratios
idempotent/plain and transactional/idempotent (Kafka's published figure: ~3% cost for
transactions committing every 100 ms with 1 KB records, negligible cost for idempotence).
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from confluent_kafka import Producer


def start_broker(binary, workdir, storage):
    port_file = os.path.join(workdir, "port")
    if os.path.exists(port_file):
        os.remove(port_file)
    # A fresh data directory per run (the binary's default is a durable ./kafka-eos-data).
    data_dir = tempfile.mkdtemp(dir=workdir)
    proc = subprocess.Popen([binary, "--listen", "127.0.0.1:0", "--topic", "t:2",
                             "--port-file", port_file, "--data-dir", data_dir, *storage],
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


def run(mode, binary, records, size, commit_ms, workdir, storage=()):
    proc, port = start_broker(binary, workdir, storage)
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
    ap.add_argument("--storage", default="",
                    help="broker storage flags, e.g. '--in-memory' or '--flush interval=100' "
                         "(default: durable, flushed every batch)")
    args = ap.parse_args()
    modes = ["plain", "idempotent", "transactional"]
    results = {m: [] for m in modes}
    cpu = {m: [] for m in modes}
    with tempfile.TemporaryDirectory() as workdir:
        for r in range(args.repeats):
            # Rotate the order each repeat so that no mode always runs first or last.
            for m in modes[r % 3:] + modes[:r % 3]:
                rate, seconds = run(m, args.broker, args.records, args.size, args.commit_ms,
                                    workdir, args.storage.split())
                results[m].append(rate)
                cpu[m].append(seconds * 1e6 / args.records)
                print(f"run {r + 1} {m:13s} {rate:10.0f} records/s  broker CPU "
                      f"{cpu[m][-1]:.2f} us/record", file=sys.stderr)
    med = {m: statistics.median(v) for m, v in results.items()}
    med_cpu = {m: statistics.median(v) for m, v in cpu.items()}
    print(f"records={args.records} size={args.size}B commit_every={args.commit_ms}ms "
          f"repeats={args.repeats} (median records/s)")
    print("| mode | median records/s | MB/s | broker CPU us/record | runs (records/s) |")
    print("|---|---|---|---|---|")
    for m in modes:
        runs = ", ".join(f"{x:.0f}" for x in results[m])
        print(f"| {m} | {med[m]:.0f} | {med[m] * args.size / 1e6:.1f} | {med_cpu[m]:.2f} "
              f"| {runs} |")
    print(f"\nthroughput idempotent / plain = {med['idempotent'] / med['plain']:.3f}")
    print(f"throughput transactional / idempotent = "
          f"{med['transactional'] / med['idempotent']:.3f}")
    print(f"broker CPU per record plain / idempotent = "
          f"{med_cpu['plain'] / med_cpu['idempotent']:.3f}")
    print(f"broker CPU per record idempotent / transactional = "
          f"{med_cpu['idempotent'] / med_cpu['transactional']:.3f}")


if __name__ == "__main__":
    main()
