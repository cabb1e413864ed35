#!/usr/bin/env python3
"""Live checks for issue 21's "Done when" (login throttle race, closed sign-up, topic flood,
look-alike names).

Each check starts its own chat-server (BIN, default .build/release/chat-server) on a free loopback
port with a temporary data directory and prints one JSON line:

- `login-race`: registers `victim`, opens 40 connections, then sends one wrong-password `login`
  on each at the same moment; counts `unauthorized` vs `rate_limited` replies (the throttle allows
  `--login-free-attempts`, 5, failures before delays start).
- `closed-signup`: with `--registration closed`, pipelines 300 `register` requests on one
  connection and reads the 300 replies; the server's CPU time (/proc/PID/stat) before and after.
  A control run with `--registration open` pipelines 20 registers to show what a hash costs.
- `topic-flood`: one member pipelines 2,000 `topic` changes; counts `ok` vs `rate_limited`.
- `lookalikes`: registers `paypal` and `alice`, then tries `pаypal` (Cyrillic а, U+0430),
  `alice` + U+034F and `alice` + U+FE0F; prints each reply's code and message.

Raw sockets, loopback only; every loop is bounded in count and time (--seconds per check).

    scripts/bench-abuse.py [--bin PATH] [--seconds 60] [--only login-race,closed-signup,topic-flood,lookalikes]
"""

import argparse
import json
import os
import sys
import threading
import time
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchlib import WireClient, cpu_seconds, start_server, stop_server, ws_frame

PASSWORD = "a long enough password"


def outcome(reply):
    return reply.get("code", "?") if reply.get("type") == "error" else reply.get("type", "?")


def send_in_background(client, data):
    """Writes a pipelined burst from a thread while the caller reads the replies (a client that
    wrote without reading would be closed as a slow consumer, 4001, before the burst ends)."""
    def run():
        try:
            client.sock.sendall(data)
        except OSError:
            pass
    threading.Thread(target=run, daemon=True).start()


def read_replies(client, count, seconds, prefix):
    """Reads until `count` replies whose id starts with `prefix` arrived (or the time is up)."""
    codes = Counter()
    deadline = time.monotonic() + seconds
    client.sock.settimeout(seconds)
    while sum(codes.values()) < count and time.monotonic() < deadline:
        reply = client.read_json()
        if str(reply.get("id") or "").startswith(prefix):
            codes[outcome(reply)] += 1
    return codes


def login_race(binary, seconds, attempts=40):
    server, port, data = start_server(binary, ["--registration", "open"])
    try:
        owner = WireClient(port)
        owner.hello()
        assert outcome(owner.request({"type": "register", "id": "r", "user": "victim", "password": PASSWORD})) == "ok"
        owner.close()
        clients = []
        for _ in range(attempts):
            client = WireClient(port, timeout=seconds)
            client.hello()
            clients.append(client)
        barrier = threading.Barrier(attempts)
        codes, lock = Counter(), threading.Lock()

        def attempt(client, index):
            barrier.wait(timeout=seconds)
            try:
                reply = client.request({"type": "login", "id": f"l{index}", "user": "victim",
                                        "password": "wrong password!"})
                code = outcome(reply)
            except Exception as error:  # noqa: BLE001 - counted
                code = f"failed: {error!r}"
            with lock:
                codes[code] += 1

        threads = [threading.Thread(target=attempt, args=(c, i), daemon=True) for i, c in enumerate(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=seconds)
        for client in clients:
            client.close()
        return {"check": "login-race", "attempts": attempts, "replies": dict(codes)}
    finally:
        stop_server(server, data)


def pipelined_registers(binary, seconds, policy, count):
    server, port, data = start_server(binary, ["--registration", policy])
    try:
        client = WireClient(port, timeout=seconds)
        client.hello()
        time.sleep(0.5)  # let start-up work (the dummy hash, the first snapshot) finish
        before = cpu_seconds(server.pid)
        burst = b"".join(ws_frame({"type": "register", "id": f"r{i}", "user": f"user{i}", "password": PASSWORD})
                         for i in range(count))
        send_in_background(client, burst)
        codes = read_replies(client, count, seconds, "r")
        after = cpu_seconds(server.pid)
        client.close()
        return {"check": "closed-signup" if policy == "closed" else "open-signup-control",
                "registration": policy, "requests": count, "replies": dict(codes),
                "server_cpu_s": round(after - before, 3),
                "server_cpu_ms_per_request": round((after - before) * 1000 / count, 2)}
    finally:
        stop_server(server, data)


def topic_flood(binary, seconds, count=2000):
    server, port, data = start_server(binary, ["--registration", "open"])
    try:
        client = WireClient(port, timeout=seconds)
        client.hello()
        assert outcome(client.request({"type": "register", "id": "r", "user": "flooder", "password": PASSWORD})) == "ok"
        assert outcome(client.request({"type": "join", "id": "j", "room": "lobby"})) == "ok"
        start = time.monotonic()
        send_in_background(client, b"".join(ws_frame({"type": "topic", "id": f"t{i}", "room": "lobby",
                                                      "topic": f"topic {i}"}) for i in range(count)))
        codes = read_replies(client, count, seconds, "t")
        elapsed = time.monotonic() - start
        client.close()
        return {"check": "topic-flood", "requests": count, "replies": dict(codes),
                "seconds": round(elapsed, 2)}
    finally:
        stop_server(server, data)


def lookalikes(binary, seconds):
    server, port, data = start_server(binary, ["--registration", "open"])
    try:
        results = {}
        for name in ["paypal", "alice", "p\u0430ypal", "alice\u034f", "alice\ufe0f"]:
            client = WireClient(port, timeout=seconds)
            client.hello()
            reply = client.request({"type": "register", "id": "r", "user": name, "password": PASSWORD})
            client.close()
            results[name.encode("unicode_escape").decode()] = {
                "reply": outcome(reply), "message": reply.get("message")}
        return {"check": "lookalikes", "results": results}
    finally:
        stop_server(server, data)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=".build/release/chat-server")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--only", default="login-race,closed-signup,topic-flood,lookalikes")
    args = ap.parse_args()
    checks = {
        "login-race": lambda: [login_race(args.bin, args.seconds)],
        "closed-signup": lambda: [pipelined_registers(args.bin, args.seconds, "closed", 300),
                                  pipelined_registers(args.bin, args.seconds, "open", 20)],
        "topic-flood": lambda: [topic_flood(args.bin, args.seconds)],
        "lookalikes": lambda: [lookalikes(args.bin, args.seconds)],
    }
    for name in args.only.split(","):
        for row in checks[name]():
            print(json.dumps(row, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    sys.exit(main())
