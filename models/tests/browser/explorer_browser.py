#!/usr/bin/env python3
"""Headless-Chromium test of `kafka-eos explore`.

Starts the explorer on a free loopback port and chromedriver on another, drives Chromium over
the W3C WebDriver protocol (plain HTTP from the standard library: no Selenium needed), loads
the page, clicks three steps ("Next Action Choices" links) from the initial state to the
first Produce, and asserts that what is rendered reads like the protocol: actions named as
Kafka requests between named actors, the step's effect, the partition's log with offsets,
the sequence diagram. Saves a screenshot under the output folder (outside the repository's
tracked files) and exits non-zero on any failure.
"""

import argparse
import base64
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"
NEXT_LINKS = 'ul[data-bind*="nextSteps"] a'
PATH_LINKS = "ol.path-list a"
STATE_PANE = 'div[data-bind*="selectedStep().outcome"]'


class Failure(Exception):
    pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, what, proc, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise Failure(f"{what} exited early with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise Failure(f"{what} did not listen on port {port}")


class WebDriver:
    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"
        self.session = None

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return json.loads(r.read() or b"{}").get("value")
        except urllib.error.HTTPError as e:
            raise Failure(f"WebDriver {method} {path}: {e.code} {e.read()[:500]!r}")

    def start(self, chromium, profile):
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1600,2000",
                f"--user-data-dir={profile}"]}}}}
        self.session = self.call("POST", "/session", caps)["sessionId"]

    def s(self, path):
        return f"/session/{self.session}{path}"

    def go(self, url):
        self.call("POST", self.s("/url"), {"url": url})

    def find_all(self, css):
        found = self.call("POST", self.s("/elements"), {"using": "css selector", "value": css})
        # W3C key; chromedriver in legacy mode answers "ELEMENT".
        ids = [e.get(ELEMENT) or e.get("ELEMENT") for e in found]
        if None in ids:
            raise Failure(f"unexpected element references: {found}")
        return ids

    def text(self, element):
        return self.call("GET", self.s(f"/element/{element}/text"))

    def click(self, element):
        self.call("POST", self.s(f"/element/{element}/click"), {})

    def js(self, script):
        return self.call("POST", self.s("/execute/sync"), {"script": script, "args": []})

    def screenshot(self, path):
        png = base64.b64decode(self.call("GET", self.s("/screenshot")))
        with open(path, "wb") as f:
            f.write(png)

    def quit(self):
        if self.session:
            try:
                self.call("DELETE", self.s(""))
            except Exception:
                pass


def wait_for(what, probe, seconds=20):
    deadline = time.time() + seconds
    last = None
    while time.time() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.2)
    raise Failure(f"timed out waiting for {what}")


def link_texts(wd, css):
    return [(e, wd.text(e)) for e in wd.find_all(css)]


def click_next(wd, starts_with):
    """Clicks the first "Next Action Choices" link whose text starts with `starts_with`."""
    def probe():
        for e, t in link_texts(wd, NEXT_LINKS):
            if t.startswith(starts_with):
                return (e, t)
        return None
    element, text = wait_for(f"a next action starting {starts_with!r}", probe)
    wd.click(element)
    wait_for(f"{text!r} in the path of actions",
             lambda: any(t == text for _, t in link_texts(wd, PATH_LINKS)))
    return text


def state_pane(wd):
    panes = wd.find_all(STATE_PANE)
    if not panes:
        raise Failure("no state pane")
    return wd.text(panes[0])


def expect(cond, message):
    if not cond:
        raise Failure(message)
    print(f"ok: {message}")


def run(args):
    os.makedirs(args.out, exist_ok=True)
    procs = []
    wd = None
    profile = tempfile.mkdtemp(prefix="kafka-eos-chromium-")
    try:
        ex_port = free_port()
        explorer = subprocess.Popen([args.bin, "explore", "idempotent",
                                     "--addr", f"127.0.0.1:{ex_port}"],
                                    stdout=subprocess.DEVNULL)
        procs.append(explorer)
        wait_port(ex_port, "kafka-eos explore", explorer)
        cd_port = free_port()
        driver = subprocess.Popen([args.chromedriver, f"--port={cd_port}"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(driver)
        wait_port(cd_port, "chromedriver", driver)

        wd = WebDriver(cd_port)
        wd.start(args.chromium, profile)
        wd.go(f"http://127.0.0.1:{ex_port}/")

        # The page opens on the list of initial states: click into the (only) one.
        click_next(wd, "Init 0")
        # The initial state: the choices are Kafka requests between named actors.
        first = wait_for("the next action choices",
                         lambda: [x for x in link_texts(wd, NEXT_LINKS) if x[1] != "Init 0"])
        texts = [t for _, t in first]
        print("initial choices:", texts)
        expect(any(t == "producer-1 -> coordinator: InitProducerId#0" for t in texts),
               "an InitProducerId from producer-1 to the coordinator is offered")
        expect(not any("Id(" in t or "Deliver" in t for t in texts),
               "no Rust internals in the action names")
        init_state = state_pane(wd)
        expect("partition-0: HW=0 LSO=0" in init_state and "producer-1 (idempotent)" in init_state,
               "the initial state shows the partition's offsets and the producer")

        # Step 1: the coordinator answers InitProducerId.
        click_next(wd, "producer-1 -> coordinator: InitProducerId#0")
        step = state_pane(wd)
        expect("sends to producer-1: InitProducerId#0 ok pid=0 epoch=0" in step,
               "the step shows the coordinator's answer with the producer id and epoch")
        expect("scenario idempotent (protocol tv2, bugs: none)" in step,
               "the page names the scenario, protocol and bugs")
        expect(re.search(r"properties here: all \d+ safety properties hold", step) is not None,
               "the step says which properties the state violates")
        # Step 2: the producer gets its id and sends its first records.
        click_next(wd, "coordinator -> producer-1: InitProducerId#0 ok pid=0 epoch=0")
        step = state_pane(wd)
        expect("sends to partition-0: Produce#" in step and "seq=0..0" in step,
               "the producer sends Produce with pid, epoch and base sequence")
        # Step 3: the partition leader appends the first batch.
        produce = click_next(wd, "producer-1 -> partition-0: Produce#")
        expect("pid=0 epoch=0 seq=0..0" in produce, f"the action names the batch: {produce}")
        step = state_pane(wd)
        expect("@0 pid=0 epoch=0 seq=0 r0" in step,
               "the leader's log shows the batch at offset 0")
        expect("HW=1 LSO=1" in step, "with its high watermark and last stable offset")
        svg = wd.js("var s = document.querySelector('svg'); return s ? s.textContent : '';")
        expect("producer-1" in svg and "partition-0" in svg and "Produce#" in svg,
               "the sequence diagram names the actors and the Produce")

        # The properties panel lists our properties.
        page = wd.js("return document.body.innerText;")
        expect("S1 no duplicate" in page and "S2 no acked loss" in page,
               "the property list names S1 and S2")

        shot = os.path.join(args.out, "explorer.png")
        wd.screenshot(shot)
        print(f"screenshot: {shot}")
        print("browser test passed")
        return 0
    except Exception as e:  # noqa: BLE001 - any failure fails the test, with a screenshot
        print(f"FAILED: {type(e).__name__}: {e}", file=sys.stderr)
        if wd and wd.session:
            try:
                wd.screenshot(os.path.join(args.out, "explorer-failure.png"))
            except Exception:
                pass
        return 1
    finally:
        if wd:
            wd.quit()
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(profile, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True, help="the kafka-eos binary")
    ap.add_argument("--out", required=True, help="folder for the screenshot")
    ap.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    ap.add_argument("--chromedriver",
                    default=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    sys.exit(run(ap.parse_args()))


if __name__ == "__main__":
    main()
