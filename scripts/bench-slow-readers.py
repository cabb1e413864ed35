#!/usr/bin/env python3
"""Server memory while clients stop reading (issue 5's hostile-client figure).

Starts chat-server (from BIN, default .build/release/chat-server) on a free loopback port with a
temporary data directory, connects SUBSCRIBERS clients that join one room and then stop reading
(their sockets are paused), and one publisher that sends MESSAGES messages of SIZE bytes, waiting
for each `ok`. Samples the server's RSS from /proc every 100 ms and prints one JSON line: RSS
before, peak, after; how many stalled subscribers were closed with 4001; messages sent; seconds.
Every loop is bounded in count and time; loopback only.

    pip install websockets   # if missing
    scripts/bench-slow-readers.py [--bin PATH] [--subscribers 100] [--messages 100000] [--size 100]
"""

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import websockets


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def request(ws, counter, body):
    counter[0] += 1
    body = dict(body, id=str(counter[0]))
    await ws.send(json.dumps(body))
    while True:
        reply = json.loads(await ws.recv())
        if reply.get("id") == body["id"]:
            return reply


async def user(url, name, room, password="bench password 1"):
    ws = await websockets.connect(url, max_size=None, ping_interval=None, max_queue=None)
    counter = [0]
    await request(ws, counter, {"type": "hello", "version": 1, "client": "bench-slow-readers"})
    reply = await request(ws, counter, {"type": "register", "user": name, "password": password})
    assert reply["type"] == "ok", reply
    reply = await request(ws, counter, {"type": "join", "room": room})
    assert reply["type"] == "ok", reply
    return ws, counter


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=".build/release/chat-server")
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--max-seconds", type=int, default=600)
    args = parser.parse_args()

    port = free_port()
    data = tempfile.mkdtemp(prefix="chat-slow-readers-")
    server = subprocess.Popen(
        [args.bin, "--host", "127.0.0.1", "--port", str(port), "--data-dir", data + "/state",
         "--fsync", "no", "--rate-per-sec", "1000000", "--rate-burst", "1000000",
         "--max-connections-per-address", str(args.subscribers + 10), "--log-level", "warning"],
        stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except Exception:
                time.sleep(0.1)
        url = f"ws://127.0.0.1:{port}/v1/ws"
        room = "stalled"
        subscribers = await asyncio.gather(
            *[user(url, f"sub{i}", room) for i in range(args.subscribers)])
        publisher, counter = await user(url, "publisher", room)
        # Stop reading: the kernel buffers fill, then the server's per-connection queue.
        for ws, _ in subscribers:
            ws.transport.pause_reading()
        await asyncio.sleep(0.5)
        before = rss_kib(server.pid)
        peak = before
        text = ("x" * args.size)
        stop = time.monotonic() + args.max_seconds
        start = time.monotonic()
        sent = 0
        for i in range(args.messages):
            if time.monotonic() > stop:
                break
            reply = await request(publisher, counter, {"type": "send", "room": room, "text": text})
            if reply["type"] != "ok":
                print(json.dumps({"error": reply}), file=sys.stderr)
                break
            sent += 1
            if i % 200 == 0:
                peak = max(peak, rss_kib(server.pid))
        seconds = time.monotonic() - start
        peak = max(peak, rss_kib(server.pid))
        # Resume reading to collect each subscriber's close code.
        closed_4001 = 0
        for ws, _ in subscribers:
            ws.transport.resume_reading()
        for ws, _ in subscribers:
            try:
                while True:
                    await asyncio.wait_for(ws.recv(), timeout=10)
            except websockets.ConnectionClosed as e:
                if e.rcvd is not None and e.rcvd.code == 4001:
                    closed_4001 += 1
            except asyncio.TimeoutError:
                pass
        await asyncio.sleep(1)
        after = rss_kib(server.pid)
        print(json.dumps({
            "subscribers": args.subscribers, "messages_sent": sent, "size": args.size,
            "seconds": round(seconds, 1), "rss_before_mib": round(before / 1024, 1),
            "rss_peak_mib": round(peak / 1024, 1), "rss_after_mib": round(after / 1024, 1),
            "closed_4001": closed_4001, "binary": args.bin,
        }))
        await publisher.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
        subprocess.run(["rm", "-rf", data])


if __name__ == "__main__":
    asyncio.run(main())
