"""Fixtures: the broker binary and the fault proxy as subprocesses on 127.0.0.1 port 0, each
killed (by PID) when its test ends."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent.parent
REPORT = []


def _binary():
    env = os.environ.get("KAFKA_EOS_BROKER_BIN")
    if env:
        return env
    target = os.environ.get("CARGO_TARGET_DIR", str(REPO / "target"))
    return str(Path(target) / "debug" / "kafka-eos-broker")


def _wait_file(path, proc, timeout=15.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        if proc.poll() is not None:
            raise RuntimeError(f"process exited early with {proc.returncode}")
        time.sleep(0.02)
    raise TimeoutError(f"{path} not written")


def _read_json(path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}


class Broker:
    def __init__(self, proc, port, stats_file):
        self.proc = proc
        self.port = port
        self.stats_file = stats_file

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.port}"

    def stats(self):
        time.sleep(0.3)  # the broker rewrites its stats file every 100 ms
        return _read_json(self.stats_file)


class Proxy:
    def __init__(self, proc, port, stats_file):
        self.proc = proc
        self.port = port
        self.stats_file = stats_file

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.port}"

    def stats(self):
        return _read_json(self.stats_file)


@pytest.fixture
def spawn(tmp_path):
    """spawn.broker(*args) and spawn.proxied_broker(proxy_args, broker_args); every process
    started is killed at teardown."""
    procs = []

    def kill_all():
        for p in procs:
            if p.poll() is None:
                p.kill()
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    class Spawner:
        counter = 0

        def _paths(self, name):
            Spawner.counter += 1
            d = tmp_path / f"{name}{Spawner.counter}"
            d.mkdir()
            return d

        def broker(self, *args, advertise=None, topics=("t:2",), data_dir=None):
            """A broker with its own data directory (`data_dir`, default a fresh one under
            this test's temporary directory: never the binary's default `./kafka-eos-data`);
            pass an earlier broker's to restart on its data."""
            d = self._paths("broker")
            cmd = [_binary(), "--listen", "127.0.0.1:0", "--port-file", str(d / "port"),
                   "--stats-file", str(d / "stats.json"),
                   "--data-dir", str(data_dir or d / "data")]
            for t in topics:
                cmd += ["--topic", t]
            if advertise:
                cmd += ["--advertise", advertise]
            cmd += list(args)
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(d / "log", "w"))
            procs.append(proc)
            port = int(_wait_file(d / "port", proc))
            return Broker(proc, port, d / "stats.json"), d / "port"

        def proxied_broker(self, proxy_args=(), broker_args=()):
            d = self._paths("proxy")
            upstream = d / "upstream_port"
            cmd = [sys.executable, str(HERE / "fault_proxy.py"), "--port-file", str(d / "port"),
                   "--upstream-port-file", str(upstream), "--stats-file", str(d / "stats.json"),
                   *proxy_args]
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(d / "log", "w"))
            procs.append(proc)
            pport = int(_wait_file(d / "port", proc))
            broker, port_file = self.broker(*broker_args, advertise=f"127.0.0.1:{pport}")
            upstream.write_text(str(broker.port))
            return Proxy(proc, pport, d / "stats.json"), broker

    yield Spawner()
    kill_all()


def report(line):
    """Adds a line to the fault-count summary printed at the end of the session."""
    REPORT.append(line)


def pytest_terminal_summary(terminalreporter):
    if REPORT:
        terminalreporter.section("kafka-eos-broker fault-proxy counts")
        for line in REPORT:
            terminalreporter.write_line(line)
