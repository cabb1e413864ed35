#!/usr/bin/env python3
"""Login latency against the scrypt cost N (issue 21 item 8: choosing the default).

For each N, starts chat-server (BIN, default .build/release/chat-server) with `--scrypt-n N` on a
free loopback port and a temporary data directory, registers one user (a hash made at cost N), then
measures `login` round trips: SEQUENTIAL logins one after the other (each on a fresh connection,
the time from writing `login` to reading its reply), and PARALLEL logins at once, one user each (the wall
time for all of them: the hashing runs on the server's thread pool, one thread per core). Also the
server's CPU seconds per login (/proc/PID/stat) and its peak RSS (VmHWM). Prints one JSON line per
N and a Markdown table. Loopback only; every loop is bounded in count and time.

    scripts/bench-scrypt.py [--bin PATH] [--costs 16384,32768,65536,131072] [--sequential 10] [--parallel 8]
"""

import argparse
import json
import os
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchlib import WireClient, cpu_seconds, peak_rss_kib, start_server, stop_server

PASSWORD = "a long enough password"


def login_once(port, user):
    client = WireClient(port, timeout=60)
    try:
        client.hello()
        start = time.monotonic()
        reply = client.request({"type": "login", "id": "l", "user": user, "password": PASSWORD})
        elapsed = time.monotonic() - start
        assert reply.get("type") == "ok" and "token" in reply, reply
        return elapsed
    finally:
        client.close()


def measure(binary, cost, sequential, parallel):
    server, port, data = start_server(binary, ["--scrypt-n", str(cost), "--registration", "open"])
    try:
        client = WireClient(port, timeout=60)
        client.hello()
        start = time.monotonic()
        reply = client.request({"type": "register", "id": "r", "user": "bench", "password": PASSWORD})
        register_s = time.monotonic() - start
        assert reply.get("type") == "ok", reply
        # Parallel logins use one user each: parallel attempts for one user hold places in its
        # login throttle while they hash, and the sixth would be answered rate_limited.
        for i in range(parallel):
            reply = client.request({"type": "register", "id": f"p{i}", "user": f"bench{i}", "password": PASSWORD})
            assert reply.get("type") == "ok", reply
        client.close()
        login_once(port, "bench")  # warm-up
        cpu_before = cpu_seconds(server.pid)
        times = [login_once(port, "bench") for _ in range(sequential)]
        cpu_per_login = (cpu_seconds(server.pid) - cpu_before) / sequential
        results, errors = [], []

        def worker(i):
            try:
                results.append(login_once(port, f"bench{i}"))
            except Exception as error:  # noqa: BLE001 - reported below
                errors.append(repr(error))

        threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(parallel)]
        wall_start = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        wall = time.monotonic() - wall_start
        return {
            "bench": "scrypt", "n": cost, "memory_per_hash_mib": cost * 1024 // (1 << 20),
            "register_ms": round(register_s * 1000, 1),
            "login_median_ms": round(statistics.median(times) * 1000, 1),
            "login_max_ms": round(max(times) * 1000, 1),
            "server_cpu_ms_per_login": round(cpu_per_login * 1000, 1),
            "parallel": parallel, "parallel_wall_ms": round(wall * 1000, 1),
            "parallel_slowest_ms": round(max(results) * 1000, 1) if results else None,
            "parallel_errors": errors[:3], "logins_per_s": round(len(results) / wall, 1),
            "peak_rss_mib": round(peak_rss_kib(server.pid) / 1024, 1),
        }
    finally:
        stop_server(server, data)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=".build/release/chat-server")
    ap.add_argument("--costs", default="16384,32768,65536,131072")
    ap.add_argument("--sequential", type=int, default=10)
    ap.add_argument("--parallel", type=int, default=8)
    args = ap.parse_args()
    if not (1 <= args.sequential <= 100 and 1 <= args.parallel <= 32):
        ap.error("--sequential must be 1…100 and --parallel 1…32")
    rows = []
    for cost in (int(c) for c in args.costs.split(",")):
        row = measure(args.bin, cost, args.sequential, args.parallel)
        print(json.dumps(row), flush=True)
        rows.append(row)
    print()
    print(f"| N | memory per hash | login, median (max) of {args.sequential} | server CPU per login "
          f"| {args.parallel} parallel logins: wall (slowest) | logins/s | peak RSS |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| 2^{r['n'].bit_length() - 1} = {r['n']} | {r['memory_per_hash_mib']} MiB "
              f"| {r['login_median_ms']} ms ({r['login_max_ms']} ms) | {r['server_cpu_ms_per_login']} ms "
              f"| {r['parallel_wall_ms']} ms ({r['parallel_slowest_ms']} ms) | {r['logins_per_s']} "
              f"| {r['peak_rss_mib']} MiB |")


if __name__ == "__main__":
    sys.exit(main())
