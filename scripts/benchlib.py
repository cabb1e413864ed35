"""Helpers the Python benchmark scripts share (loopback only)."""

import socket


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def rss_kib(pid):
    """A process's resident set size in KiB, from /proc."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def websocket_connect(port, timeout=30):
    """Opens /v1/ws on 127.0.0.1:port over a plain socket; returns the socket and what was read
    past the 101 response (the start of the first frames)."""
    import base64
    import os

    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((
        f"GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            raise EOFError("closed during the handshake")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    assert b" 101 " in head.split(b"\r\n")[0], head
    return sock, rest


def cpu_seconds(pid):
    """A process's user + system CPU time in seconds, from /proc/PID/stat."""
    import os

    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # After the command name: state is field 3, utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_kib(pid):
    """A process's peak resident set size (VmHWM) in KiB, from /proc."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def start_server(binary, args, timeout=20):
    """Starts chat-server on a free loopback port with a fresh temporary data directory and waits
    for /healthz. Returns (process, port, data directory); the caller kills the process and removes
    the directory."""
    import subprocess
    import tempfile
    import time
    import urllib.request

    port = free_port()
    data = tempfile.mkdtemp(prefix="chat-bench-")
    server = subprocess.Popen(
        [binary, "--host", "127.0.0.1", "--port", str(port), "--data-dir", data, "--fsync", "no",
         "--log-level", "error"] + list(args),
        stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return server, port, data
        except Exception:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise RuntimeError(f"chat-server did not start (exit {server.poll()})")
            time.sleep(0.05)


def stop_server(server, data):
    """Kills a server from start_server and removes its data directory."""
    import shutil

    server.kill()
    server.wait()
    shutil.rmtree(data, ignore_errors=True)


def ws_frame(obj):
    """One masked WebSocket text frame carrying obj as JSON."""
    import json
    import os

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


class WireClient:
    """A WebSocket client on a plain socket (text frames only, enough for the benchmarks)."""

    def __init__(self, port, timeout=30):
        self.sock, self.buf = websocket_connect(port, timeout)

    def read_frame(self):
        """The next frame as (opcode, payload)."""
        while True:
            if len(self.buf) >= 2:
                n = self.buf[1] & 0x7F
                off = 2
                if n == 126:
                    n, off = (int.from_bytes(self.buf[2:4], "big"), 4) if len(self.buf) >= 4 else (None, 0)
                elif n == 127:
                    n, off = (int.from_bytes(self.buf[2:10], "big"), 10) if len(self.buf) >= 10 else (None, 0)
                if n is not None and len(self.buf) >= off + n:
                    opcode = self.buf[0] & 0x0F
                    payload, self.buf = self.buf[off:off + n], self.buf[off + n:]
                    return opcode, payload
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise EOFError("closed")
            self.buf += chunk

    def read_json(self):
        """The next text frame as JSON (skips other frames; EOFError on a close frame)."""
        import json

        while True:
            opcode, payload = self.read_frame()
            if opcode == 0x8:
                raise EOFError(f"closed: {payload[:2].hex()}")
            if opcode == 0x1:
                return json.loads(payload)

    def send(self, obj):
        self.sock.sendall(ws_frame(obj))

    def request(self, obj):
        """Sends obj and returns the reply with its id (events in between are dropped)."""
        self.send(obj)
        while True:
            reply = self.read_json()
            if reply.get("id") == obj["id"]:
                return reply

    def hello(self):
        return self.request({"type": "hello", "id": "h", "version": 1, "client": "bench"})

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
