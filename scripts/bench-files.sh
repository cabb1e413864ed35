#!/usr/bin/env bash
# Upload and download throughput of one file (default 100 MiB) on loopback: chat-server's
# POST /v1/files and GET /v1/files/ID, side by side with nginx (Debian's, from apt) taking the
# same file with a WebDAV PUT and serving it as a static file. curl is the client for both,
# so only the servers differ. Runs alternate chat-server / nginx, ROUNDS times each; the
# server's peak RSS is sampled (every 20 ms) during each transfer. Server on CPU 1, curl on
# CPU 0 when there are two. Every transfer is bounded (curl --max-time 120).
# Usage: [BIN=.build/release] scripts/bench-files.sh [MIB] [ROUNDS] [OUT.md]
set -euo pipefail
cd "$(dirname "$0")/.."
MIB=${1:-100} ROUNDS=${2:-5} OUT=${3:-/dev/stdout}
BIN=${BIN:-.build/release}
[ -x "$BIN/chat-server" ] && [ -x "$BIN/chat" ] || swift build -c release --product chat-server --product chat >/dev/null
command -v nginx >/dev/null || { echo "nginx is not installed (apt-get install nginx-light)" >&2; exit 1; }
work=$(mktemp -d)
chmod 755 "$work"
server="" nginx=""
cleanup() {
    [ -n "$server" ] && { kill -KILL "$server" 2>/dev/null || true; }
    if [ -n "$nginx" ]; then # TERM: the master stops its worker (KILL would orphan it)
        kill -TERM "$nginx" 2>/dev/null || true
        for _ in $(seq 1 40); do kill -0 "$nginx" 2>/dev/null || break; sleep 0.05; done
        kill -KILL "$nginx" 2>/dev/null || true
    fi
    rm -rf "$work"
    true
}
trap cleanup EXIT
SRV=() GEN=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then SRV=(taskset -c 1) GEN=(taskset -c 0); fi
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

head -c "$((MIB << 20))" /dev/urandom > "$work/file.bin"
sha=$(sha256sum "$work/file.bin" | cut -d' ' -f1)

# chat-server, a user and their token (through the chat CLI's token store).
port=$(freeport)
"${SRV[@]}" "$BIN/chat-server" --host 127.0.0.1 --port "$port" --data-dir "$work/data" --log-level warning \
    --max-file-bytes "$(((MIB + 1) << 20))" --file-quota-bytes 0 --uploads-per-min 1000 --scrypt-n 1024 \
    2>"$work/server.log" &
server=$!
for _ in $(seq 1 400); do curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.05; done
XDG_CONFIG_HOME="$work/config" CHAT_PASSWORD='bench password' \
    "$BIN/chat" login --server "ws://127.0.0.1:$port" --user bench --register >/dev/null
token=$(python3 -c 'import json,sys; print(next(iter(json.load(open(sys.argv[1])).values())))' "$work/config/chat/tokens.json")

# nginx: PUT into /up/ (WebDAV), GET from /.
nport=$(freeport)
mkdir -p "$work/www/up" "$work/nginx/logs" "$work/nginx/tmp"
cp "$work/file.bin" "$work/www/file.bin"
chmod -R a+rwX "$work/www" "$work/nginx"
cat > "$work/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 64; }
http {
    access_log off;
    sendfile on;
    client_body_temp_path $work/nginx/tmp;
    proxy_temp_path $work/nginx/tmp;
    fastcgi_temp_path $work/nginx/tmp;
    uwsgi_temp_path $work/nginx/tmp;
    scgi_temp_path $work/nginx/tmp;
    server {
        listen 127.0.0.1:$nport;
        root $work/www;
        client_max_body_size $((MIB + 1))m;
        location /up/ { dav_methods PUT; create_full_put_path on; }
    }
}
CONF
"${SRV[@]}" nginx -c "$work/nginx.conf" -p "$work/nginx" 2>"$work/nginx/stderr" &
nginx=$!
for _ in $(seq 1 200); do curl -fsS -o /dev/null "http://127.0.0.1:$nport/file.bin" 2>/dev/null && break; sleep 0.05; done

# Peak RSS (KiB) of a process tree's root and children (nginx: master + worker) while a command runs.
peak_rss() { # pid, command...
    local root=$1; shift
    local peak_file="$work/peak" stop_file="$work/stop"
    rm -f "$stop_file"; echo 0 > "$peak_file"
    (
        peak=0
        while [ ! -e "$stop_file" ]; do
            total=0
            for p in $root $(pgrep -P "$root" || true); do
                r=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
                total=$((total + ${r:-0}))
            done
            [ "$total" -gt "$peak" ] && peak=$total && echo "$peak" > "$peak_file"
            sleep 0.02
        done
    ) &
    local sampler=$!
    "$@"
    touch "$stop_file"; wait "$sampler"
    cat "$peak_file"
}

results="$work/results.txt"
: > "$results"
before=$(awk '/^VmRSS:/ {print $2}' "/proc/$server/status")
CURL="${GEN[*]} curl -sS --fail --max-time 120"
for round in $(seq 1 "$ROUNDS"); do
    # chat-server upload (the same user and bytes each round: the same id, stored again).
    rss=$(peak_rss "$server" bash -c "$CURL -o '$work/up.json' -w '%{time_total}' \
        -H 'Authorization: Bearer $token' -H 'Content-Type: application/octet-stream' \
        -T '$work/file.bin' -X POST 'http://127.0.0.1:$port/v1/files' > '$work/t'")
    echo "chat upload $(cat "$work/t") $rss" >> "$results"
    id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$work/up.json")
    rss=$(peak_rss "$server" bash -c "$CURL -o '$work/out.bin' -w '%{time_total}' \
        -H 'Authorization: Bearer $token' 'http://127.0.0.1:$port/v1/files/$id' > '$work/t'")
    echo "chat download $(cat "$work/t") $rss" >> "$results"
    [ "$(sha256sum "$work/out.bin" | cut -d' ' -f1)" = "$sha" ] || { echo "chat-server download differs" >&2; exit 1; }
    rss=$(peak_rss "$nginx" bash -c "$CURL -o /dev/null -w '%{time_total}' \
        -T '$work/file.bin' 'http://127.0.0.1:$nport/up/file-$round.bin' > '$work/t'")
    echo "nginx upload $(cat "$work/t") $rss" >> "$results"
    rss=$(peak_rss "$nginx" bash -c "$CURL -o '$work/out.bin' -w '%{time_total}' \
        'http://127.0.0.1:$nport/file.bin' > '$work/t'")
    echo "nginx download $(cat "$work/t") $rss" >> "$results"
    [ "$(sha256sum "$work/out.bin" | cut -d' ' -f1)" = "$sha" ] || { echo "nginx download differs" >&2; exit 1; }
    rm -f "$work/www/up/file-$round.bin"
done
idle=$(awk '/^VmRSS:/ {print $2}' "/proc/$server/status")

python3 - "$results" "$MIB" "$ROUNDS" "$idle" "$before" > "$OUT" <<'PY'
import statistics, sys
path, mib, rounds, idle, before = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
rows = {}
for line in open(path):
    server, op, seconds, rss = line.split()
    rows.setdefault((server, op), []).append((float(seconds), int(rss)))
def cell(server, op):
    runs = rows[(server, op)]
    mibs = statistics.median(mib / s for s, _ in runs)
    return mibs, max(r for _, r in runs) / 1024
print(f"{mib} MiB file on loopback, curl as the client, median of {rounds} alternating rounds;")
print("RSS: the server's peak during the transfer (nginx: master + worker).\n")
print("| transfer | chat-server MiB/s | nginx MiB/s | chat-server / nginx | chat-server peak RSS | nginx peak RSS |")
print("|---|---|---|---|---|---|")
for op in ("upload", "download"):
    c, cr = cell("chat", op)
    n, nr = cell("nginx", op)
    print(f"| {op} | {c:.0f} | {n:.0f} | {c / n:.2f} | {cr:.1f} MiB | {nr:.1f} MiB |")
print(f"\nchat-server RSS before the first transfer: {before / 1024:.1f} MiB; after the runs: {idle / 1024:.1f} MiB.")
PY
