#!/usr/bin/env bash
# Durability benchmarks (issue 3), on loopback, every run bounded:
#  - durable sends/s and ack latency by --fsync policy with 1, 8 and 64 senders
#    (each sender a connection in its own room), one send in flight each (wait for the ack
#    before the next), and with 16 in flight (pipelined, like redis-benchmark -P);
#  - ack latency while a snapshot of 1M messages is being written;
#  - start-up with 1M stored messages (100-byte texts, 100 rooms): log replay and
#    snapshot load, RSS, and the clean-shutdown snapshot.
# Prints JSON lines and a markdown summary. Usage: scripts/bench-durability.sh [OUT.md]
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product chat-server >/dev/null
swift build -c release --product chat-bench >/dev/null
B=.build/release
work=$(mktemp -d)
results="$work/results.jsonl"
trap 'pkill -P $$ chat-server 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')

serve() { # dir, extra flags...
    local dir=$1; shift
    "$B/chat-server" --host 127.0.0.1 --port "$port" --data-dir "$dir" --log-level warning \
        --rate-per-sec 1000000 --rate-burst 1000000 --max-connections-per-address 100000 \
        --room-creation-per-min 100000 "$@" &
    server=$!
    for _ in $(seq 1 600); do curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && return; sleep 0.05; done
    echo "server did not start" >&2; exit 1
}
stop() { kill -TERM "$server"; wait "$server" || true; }

for policy in always everysec no; do
    serve "$work/$policy" --fsync "$policy"
    for run in "1 1" "8 1" "64 1" "1 16" "64 16"; do
        read -r senders window <<<"$run"
        n=$(( senders * window == 1 ? 5000 : 60000 ))
        "$B/chat-bench" durable --url "ws://127.0.0.1:$port" --senders "$senders" --window "$window" \
            --messages "$n" --max-seconds 30 --server-pid "$server" --label "$policy" | tee -a "$results"
    done
    stop
done

"$B/chat-bench" gen-data --dir "$work/m1" --messages 1000000 --rooms 100 | tee -a "$results"
"$B/chat-bench" startup --server "$B/chat-server" --dir "$work/m1" --port "$port" | sed 's/"bench":"startup"/"bench":"startup-log"/' | tee -a "$results"
"$B/chat-bench" startup --server "$B/chat-server" --dir "$work/m1" --port "$port" | sed 's/"bench":"startup"/"bench":"startup-snapshot"/' | tee -a "$results"

# Ack latency while a 1M-message snapshot is written: a 1 MiB log threshold makes one start
# within the first ~7k sends; compare with the same run on a server that does not snapshot.
serve "$work/m1" --fsync everysec --snapshot-log-mib 1
"$B/chat-bench" durable --url "ws://127.0.0.1:$port" --senders 8 --messages 30000 --max-seconds 30 \
    --label "everysec, 1M stored, snapshot during run" | tee -a "$results"
stop
serve "$work/m1" --fsync everysec --snapshot-log-mib 100000
"$B/chat-bench" durable --url "ws://127.0.0.1:$port" --senders 8 --messages 30000 --max-seconds 30 \
    --label "everysec, 1M stored, no snapshot" | tee -a "$results"
stop

python3 - "$results" "${1:-/dev/stdout}" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
out = open(sys.argv[2], "a")
out.write("\n| fsync | senders | in flight each | durable sends/s | ack p50 ms | ack p99 ms | ack max ms | server CPU µs per send |\n|---|---|---|---|---|---|---|---|\n")
for r in rows:
    if r["bench"] == "durable":
        cpu = r.get("server_cpu_seconds")
        per = f"{cpu / r['messages'] * 1e6:.0f}" if cpu is not None and r["messages"] else "–"
        out.write(f"| {r['label']} | {r['senders']} | {r.get('window', 1)} | {int(r['sends_per_sec'])} | {r['ack_p50_ms']} | {r['ack_p99_ms']} | {r['ack_max_ms']} | {per} |\n")
out.write("\n| 1M messages, 100 rooms | ready after (s) | RSS (MiB) | SIGTERM to exit (s) |\n|---|---|---|---|\n")
for r in rows:
    if r["bench"].startswith("startup"):
        what = "replaying the log" if r["bench"] == "startup-log" else "loading the snapshot"
        out.write(f"| {what} | {r['ready_seconds']:.2f} | {int(r['rss_mib'])} | {r['shutdown_seconds']:.2f} |\n")
PY
