#!/usr/bin/env python3
"""Reply amplification by a client that does not read (issue 21's first hole).

Starts chat-server (BIN, default .build/release/chat-server) on a free loopback port with a
temporary data directory. A writer stores MESSAGES messages of 4,000 emoji (16 KB each) in one
room; an abuser joins it, pipelines REQUESTS `history` requests of 500 messages and never reads;
meanwhile a third client pings every 0.2 s. Samples the server's RSS from /proc for SECONDS and
prints one JSON line: RSS before and at its peak, the slowest ping round trip, how many pings got
no answer, and whether the server still holds the abuser's connection at the end.
Raw sockets, loopback only; every loop is bounded in count and time.

    scripts/bench-amplification.py [--bin PATH] [--messages 500] [--requests 2000] [--seconds 20]
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


from benchlib import free_port, rss_kib, websocket_connect


def rss_mib(pid):
    return rss_kib(pid) / 1024


def frame(obj):
    payload = json.dumps(obj).encode()
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        header = bytes([0x81, 0x80 | n])
    elif n < 65536:
        header = bytes([0x81, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        header = bytes([0x81, 0x80 | 127]) + n.to_bytes(8, "big")
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class Client:
    """A WebSocket client on a plain socket (text frames only, enough for this benchmark)."""

    def __init__(self, port, timeout=30):
        self.sock, self.buf = websocket_connect(port, timeout)

    def read_frame(self):
        while True:
            if len(self.buf) >= 2:
                n = self.buf[1] & 0x7F
                off = 2
                if n == 126:
                    if len(self.buf) < 4:
                        n = None
                    else:
                        n, off = int.from_bytes(self.buf[2:4], "big"), 4
                elif n == 127:
                    if len(self.buf) < 10:
                        n = None
                    else:
                        n, off = int.from_bytes(self.buf[2:10], "big"), 10
                if n is not None and len(self.buf) >= off + n:
                    opcode = self.buf[0] & 0x0F
                    payload, self.buf = self.buf[off:off + n], self.buf[off + n:]
                    return opcode, payload
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise EOFError("closed")
            self.buf += chunk

    def request(self, obj):
        self.sock.sendall(frame(obj))
        while True:
            opcode, payload = self.read_frame()
            if opcode == 0x8:
                raise EOFError(f"closed: {payload[:2].hex()}")
            if opcode != 0x1:
                continue
            reply = json.loads(payload)
            if reply.get("id") == obj["id"]:
                return reply


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=".build/release/chat-server")
    ap.add_argument("--messages", type=int, default=500)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--label", default="")
    args = ap.parse_args()

    port = free_port()
    data = tempfile.mkdtemp(prefix="amplification-")
    server = subprocess.Popen(
        [args.bin, "--host", "127.0.0.1", "--port", str(port), "--data-dir", data, "--fsync", "no",
         "--log-level", "error", "--rate-per-sec", "1000", "--rate-burst", "1000", "--history-limit", "500"],
        stderr=subprocess.DEVNULL)
    try:
        for _ in range(400):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except Exception:
                time.sleep(0.05)
        writer = Client(port)
        writer.request({"type": "hello", "id": "h", "version": 1, "client": "bench"})
        token = writer.request({"type": "register", "id": "r", "user": "writer", "password": "a long password 1"})["token"]
        writer.request({"type": "join", "id": "j", "room": "big"})
        text = "😀" * 4000
        for i in range(args.messages):
            reply = writer.request({"type": "send", "id": f"s{i}", "room": "big", "text": text})
            assert reply.get("type") == "ok", reply
        rss_before = rss_mib(server.pid)

        abuser = Client(port)
        abuser.request({"type": "hello", "id": "h", "version": 1, "client": "bench"})
        abuser.request({"type": "resume", "id": "r", "token": token})
        abuser.request({"type": "join", "id": "j", "room": "big"})
        abuser.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        burst = b"".join(frame({"type": "history", "id": f"q{i}", "room": "big", "limit": 500})
                         for i in range(args.requests))
        sender = threading.Thread(target=lambda: _send_all(abuser.sock, burst), daemon=True)
        sender.start()

        pinger = Client(port, timeout=5)
        pinger.request({"type": "hello", "id": "h", "version": 1, "client": "bench"})
        peak, slowest, lost, pings = rss_before, 0.0, 0, 0
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline:
            start = time.monotonic()
            try:
                pinger.request({"type": "ping", "id": f"p{pings}"})
                slowest = max(slowest, time.monotonic() - start)
            except Exception:
                lost += 1
                slowest = max(slowest, time.monotonic() - start)
            pings += 1
            peak = max(peak, rss_mib(server.pid))
            time.sleep(0.2)
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        connections = next((float(l.rsplit(" ", 1)[1]) for l in metrics.splitlines()
                            if l.startswith("chat_connections ") or l.startswith("chat_connections{")), None)
        print(json.dumps({
            "bench": "amplification", "label": args.label, "messages": args.messages, "requests": args.requests,
            "rss_before_mib": round(rss_before, 1), "rss_peak_mib": round(peak, 1),
            "slowest_ping_ms": round(slowest * 1000, 1), "pings": pings, "pings_lost": lost,
            "connections_at_end": connections, "abuser_still_connected": connections is not None and connections >= 3,
        }))
    finally:
        server.kill()
        server.wait()
        subprocess.run(["rm", "-rf", data])


def _send_all(sock, data):
    try:
        sock.sendall(data)
    except OSError:
        pass


if __name__ == "__main__":
    sys.exit(main())
