#!/usr/bin/env python3
"""Server memory while clients stop reading (issue 5's hostile-client figure).

Starts chat-server (from BIN, default .build/release/chat-server) on a free loopback port with a
temporary data directory, connects SUBSCRIBERS raw-socket clients that join one room and then
never read again, and one publisher that sends MESSAGES messages of SIZE bytes (WINDOW in
flight). Samples the server's RSS from /proc and prints one JSON line: RSS before, peak, after;
the server's open connections afterwards (the stalled ones must have been closed with 4001);
messages acknowledged; seconds.
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import websockets
from benchlib import free_port, rss_kib, websocket_connect


def metric(port, name):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


class RawSubscriber:
    """A WebSocket client on a plain socket: it joins the room, then never reads again."""

    def __init__(self, port, token, room):
        self.sock, self.buf = websocket_connect(port)
        self.request({"type": "hello", "id": "1", "version": 1, "client": "bench-slow-readers"})
        self.request({"type": "resume", "id": "2", "token": token})
        self.request({"type": "join", "id": "3", "room": room})

    def send(self, obj):
        payload = json.dumps(obj).encode()
        mask = os.urandom(4)
        n = len(payload)
        header = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + n.to_bytes(2, "big"))
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def frame(self):
        while True:
            if len(self.buf) >= 2:
                length, offset = self.buf[1] & 0x7F, 2
                if length == 126:
                    length, offset = int.from_bytes(self.buf[2:4], "big"), 4
                elif length == 127:
                    length, offset = int.from_bytes(self.buf[2:10], "big"), 10
                if len(self.buf) >= offset + length:
                    opcode, payload = self.buf[0] & 0x0F, self.buf[offset:offset + length]
                    self.buf = self.buf[offset + length:]
                    return opcode, payload
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk

    def request(self, obj):
        self.send(obj)
        while True:
            opcode, payload = self.frame()
            if opcode == 1:
                reply = json.loads(payload)
                if reply.get("id") == obj["id"]:
                    assert reply["type"] == "ok", reply
                    return reply


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=".build/release/chat-server")
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--window", type=int, default=64, help="sends in flight")
    parser.add_argument("--max-seconds", type=int, default=900)
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
        publisher = await websockets.connect(url, max_size=None, ping_interval=None)
        counter = [0]

        async def request(body):
            counter[0] += 1
            body = dict(body, id=str(counter[0]))
            await publisher.send(json.dumps(body))
            while True:
                reply = json.loads(await publisher.recv())
                if reply.get("id") == body["id"]:
                    return reply

        await request({"type": "hello", "version": 1, "client": "bench-slow-readers"})
        # One account for every subscriber (one scrypt hash, not a hundred); each connection resumes.
        reader = await websockets.connect(url)
        await reader.send(json.dumps({"type": "hello", "id": "1", "version": 1, "client": "b"}))
        await reader.recv()
        await reader.send(json.dumps({"type": "register", "id": "2", "user": "reader",
                                      "password": "bench password 1"}))
        token = json.loads(await reader.recv())["token"]
        await reader.close()
        reply = await request({"type": "register", "user": "publisher", "password": "bench password 1"})
        assert reply["type"] == "ok", reply
        assert (await request({"type": "join", "room": room}))["type"] == "ok"
        subscribers = [RawSubscriber(port, token, room) for _ in range(args.subscribers)]
        await asyncio.sleep(0.5)
        before = rss_kib(server.pid)
        peak = before
        text = "x" * args.size
        stop = time.monotonic() + args.max_seconds
        start = time.monotonic()
        # Pipelined: up to --window sends in flight; the publisher reads its own replies and events.
        sent = acked = 0
        while acked < args.messages and time.monotonic() < stop:
            while sent < args.messages and sent - acked < args.window:
                sent += 1
                await publisher.send(json.dumps({"type": "send", "id": f"s{sent}", "room": room, "text": text}))
            reply = json.loads(await publisher.recv())
            if reply.get("type") == "ok":
                acked += 1
                if acked % 500 == 0:
                    peak = max(peak, rss_kib(server.pid))
            elif reply.get("type") == "error":
                print(json.dumps({"error": reply}), file=sys.stderr)
                break
        seconds = time.monotonic() - start
        peak = max(peak, rss_kib(server.pid))
        # Stalled subscribers are closed with 4001; their connections end after the close timeout.
        open_connections = None
        for _ in range(60):
            open_connections = metric(port, "chat_connections")
            if open_connections is not None and open_connections <= 1:
                break
            time.sleep(0.5)
        after = rss_kib(server.pid)
        print(json.dumps({
            "subscribers": args.subscribers, "messages_acked": acked, "size": args.size,
            "seconds": round(seconds, 1), "rss_before_mib": round(before / 1024, 1),
            "rss_peak_mib": round(peak / 1024, 1), "rss_after_mib": round(after / 1024, 1),
            "connections_open_after": open_connections, "binary": args.bin,
        }))
        for sub in subscribers:
            sub.sock.close()
        await publisher.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
        subprocess.run(["rm", "-rf", data])


if __name__ == "__main__":
    asyncio.run(main())
