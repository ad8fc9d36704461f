"""A frame-aware, fault-injecting Kafka TCP proxy (loopback only, seeded, bounded).

It reads length-prefixed Kafka frames in both directions, remembers correlation id -> API key
from requests, and injects, for the chosen API keys:

* drop:  swallow the *response* (the broker applied the request) and close both sockets, so
         the client retries on a new connection;
* hold:  keep a *request* and forward it on the still-open upstream socket `--hold-ms` after
         the client gave up on it: a late duplicate, as in the Jepsen / KIP-890 scenarios.
         `--hold-mode close` closes the client's socket at once (the client retries at once);
         `--hold-mode timeout` keeps it open and silent (later requests on it are held too,
         in order) until the client's own request timeout closes it;
* cut:   close both sockets before forwarding a request.

Usage: python fault_proxy.py --port-file F --upstream-port-file G --stats-file S
       [--apis 0,24,26] [--drop P] [--hold P] [--cut P] [--hold-ms MS]
       [--hold-mode close|timeout] [--seed N]
       [--max-faults N] [--lifetime S]

It exits on its own after `--lifetime` seconds (or on SIGTERM) and keeps `--stats-file` up to
date with JSON counters: connections, requests, responses, dropped, held, cut, late_delivered.
"""

import argparse
import asyncio
import json
import os
import random
import signal
import struct
import sys


class Proxy:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.apis = {int(a) for a in args.apis.split(",") if a != ""}
        self.stats = {
            "connections": 0,
            "requests": 0,
            "responses": 0,
            "dropped": 0,
            "held": 0,
            "cut": 0,
            "late_delivered": 0,
            "timed_out_by_client": 0,
        }
        self.upstream_port = None
        self.tasks = set()

    def faults(self):
        return self.stats["dropped"] + self.stats["held"] + self.stats["cut"]

    def roll(self, p):
        return p > 0 and self.faults() < self.args.max_faults and self.rng.random() < p

    def save(self):
        tmp = self.args.stats_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.stats, f)
        os.replace(tmp, self.args.stats_file)

    async def upstream(self):
        while self.upstream_port is None:
            try:
                with open(self.args.upstream_port_file) as f:
                    text = f.read().strip()
                if text:
                    self.upstream_port = int(text)
                    break
            except FileNotFoundError:
                pass
            await asyncio.sleep(0.05)
        return await asyncio.open_connection("127.0.0.1", self.upstream_port)

    @staticmethod
    async def read_frame(reader):
        head = await reader.readexactly(4)
        (length,) = struct.unpack(">i", head)
        if length < 0 or length > 128 * 1024 * 1024:
            raise ConnectionError("bad frame length")
        return head + await reader.readexactly(length)

    async def late_delivery(self, frames, up_reader, up_writer):
        try:
            await asyncio.sleep(self.args.hold_ms / 1000.0)
            for frame in frames:
                up_writer.write(frame)
            await up_writer.drain()
            self.stats["late_delivered"] += 1
            self.save()
            # Read whatever comes back (the late request's response and earlier ones) and
            # drop it: the client is gone.
            await asyncio.wait_for(up_reader.read(1 << 20), timeout=2.0)
        except Exception:
            pass
        finally:
            up_writer.close()

    async def handle(self, client_reader, client_writer):
        self.stats["connections"] += 1
        try:
            up_reader, up_writer = await self.upstream()
        except Exception:
            client_writer.close()
            return
        pending = {}  # correlation id -> api key
        closed = asyncio.Event()
        keep_upstream = []

        def close_all(keep=False):
            closed.set()
            client_writer.close()
            if keep:
                keep_upstream.append(True)
            else:
                up_writer.close()

        async def client_to_broker():
            try:
                while not closed.is_set():
                    frame = await self.read_frame(client_reader)
                    self.stats["requests"] += 1
                    api, _version, corr = struct.unpack(">hhi", frame[4:12]) if len(frame) >= 12 else (-1, 0, 0)
                    targeted = api in self.apis
                    if targeted and self.roll(self.args.cut):
                        self.stats["cut"] += 1
                        self.save()
                        close_all()
                        return
                    if targeted and self.roll(self.args.hold):
                        self.stats["held"] += 1
                        self.save()
                        held = [frame]
                        if self.args.hold_mode == "timeout":
                            # Silent until the client times out and closes; keep the order.
                            keep_upstream.append(True)
                            try:
                                while True:
                                    held.append(await self.read_frame(client_reader))
                            except Exception:
                                pass
                            self.stats["timed_out_by_client"] += 1
                        close_all(keep=True)
                        task = asyncio.ensure_future(self.late_delivery(held, up_reader, up_writer))
                        self.tasks.add(task)
                        task.add_done_callback(self.tasks.discard)
                        return
                    pending[corr] = api
                    up_writer.write(frame)
                    await up_writer.drain()
            except Exception:
                pass
            if not keep_upstream:
                close_all()

        async def broker_to_client():
            try:
                while not closed.is_set():
                    frame = await self.read_frame(up_reader)
                    corr = struct.unpack(">i", frame[4:8])[0] if len(frame) >= 8 else 0
                    api = pending.pop(corr, -1)
                    if keep_upstream:
                        return
                    self.stats["responses"] += 1
                    if api in self.apis and self.roll(self.args.drop):
                        self.stats["dropped"] += 1
                        self.save()
                        close_all()
                        return
                    client_writer.write(frame)
                    await client_writer.drain()
            except Exception:
                pass
            if not keep_upstream:
                close_all()

        await asyncio.gather(client_to_broker(), broker_to_client())

    async def main(self):
        server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        self.save()
        tmp = self.args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(port))
        os.replace(tmp, self.args.port_file)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        try:
            await asyncio.wait_for(stop.wait(), timeout=self.args.lifetime)
        except asyncio.TimeoutError:
            pass
        server.close()
        self.save()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--upstream-port-file", required=True)
    ap.add_argument("--stats-file", required=True)
    ap.add_argument("--apis", default="0")
    ap.add_argument("--drop", type=float, default=0.0)
    ap.add_argument("--hold", type=float, default=0.0)
    ap.add_argument("--cut", type=float, default=0.0)
    ap.add_argument("--hold-ms", type=int, default=300)
    ap.add_argument("--hold-mode", choices=["close", "timeout"], default="close")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-faults", type=int, default=60)
    ap.add_argument("--lifetime", type=float, default=120.0)
    args = ap.parse_args()
    asyncio.run(Proxy(args).main())
    return 0


if __name__ == "__main__":
    sys.exit(main())
