#!/usr/bin/env bash
# Durable sends with the state in PostgreSQL (`chat-server --postgres`, issue 17) side by side with
# the embedded store in one pass: `chat-bench durable` against the same release server binary
# with --fsync always, --fsync everysec, and --postgres on a throwaway cluster (PostgreSQL's
# defaults: fsync on, synchronous_commit on, so an acknowledged send is on disk as with
# `always`). The runs alternate stores ROUNDS times; server CPU is the chat-server's, PostgreSQL
# CPU is every postgres process's (from /proc). Every run is bounded (30 s).
# With STARTUP=N, also N stored messages (100 rooms, chat-bench gen-data) started from the data
# directory and, after `migrate --from --to`, from PostgreSQL: time to /healthz, RSS, SIGTERM.
# Prints JSON lines and a markdown table.
# Usage: [ROUNDS=2] [STARTUP=0] [BUILD=1] scripts/bench-pg-serve.sh [OUT.md]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-2}
if [ "${BUILD:-1}" = 1 ]; then
    swift build -c release --product chat-server >/dev/null
    swift build -c release --product chat-bench >/dev/null
fi
B=.build/release
work=$(mktemp -d)
chmod 755 "$work" # the cluster runs as the postgres user
results="$work/results.jsonl"
cleanup() {
    pkill -P $$ chat-server 2>/dev/null || true
    scripts/pg-cluster.sh stop "$work/pg" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
url=$(scripts/pg-cluster.sh start "$work/pg")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')

serve() { # dir, extra flags...
    local dir=$1; shift
    "$B/chat-server" --host 127.0.0.1 --port "$port" --data-dir "$dir" --log-level warning \
        --rate-per-sec 1000000 --rate-burst 1000000 --max-connections-per-address 100000 \
        --room-creation-per-min 100000 --membership-changes-per-min 100000 --max-rooms-per-user 100000 "$@" &
    server=$!
    for _ in $(seq 1 600); do curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && return; sleep 0.05; done
    echo "server did not start" >&2; exit 1
}
stop() { kill -TERM "$server"; wait "$server" || true; }
# CPU seconds of every postgres process (user + system).
pg_cpu() {
    local total=0 t
    for pid in $(pgrep -x postgres); do
        t=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)
        total=$((total + t))
    done
    echo "$total $(getconf CLK_TCK)" | awk '{printf "%.3f", $1 / $2}'
}

for round in $(seq 1 "$ROUNDS"); do
    for store in always everysec postgres; do
        if [ "$store" = postgres ]; then
            db="bench_$round"
            psql "$url" -q -c "CREATE DATABASE $db"
            serve "$work/node-$round" --postgres "${url/\/postgres\?//$db?}"
        else
            serve "$work/$store-$round" --fsync "$store"
        fi
        for run in "1 1" "64 1" "64 16"; do
            read -r senders window <<<"$run"
            n=$(( senders * window == 1 ? 5000 : 60000 ))
            before=$(pg_cpu)
            line=$("$B/chat-bench" durable --url "ws://127.0.0.1:$port" --senders "$senders" --window "$window" \
                --messages "$n" --max-seconds 30 --server-pid "$server" --label "$store")
            after=$(pg_cpu)
            echo "$line" | python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); r["round"]=int(sys.argv[1]); r["postgres_cpu_seconds"]=float(sys.argv[3])-float(sys.argv[2]); print(json.dumps(r))' \
                "$round" "$before" "$after" | tee -a "$results"
        done
        stop
    done
done

if [ "${STARTUP:-0}" -gt 0 ]; then
    "$B/chat-bench" gen-data --dir "$work/big" --messages "$STARTUP" --rooms 100 >/dev/null
    "$B/chat-bench" startup --server "$B/chat-server" --dir "$work/big" --port "$port" |
        sed 's/"bench":"startup"/"bench":"startup-file"/' | tee -a "$results"
    psql "$url" -q -c "CREATE DATABASE big"
    timeout 1800 "$B/chat-server" migrate --from "$work/big" --to "${url/\/postgres\?//big?}" >/dev/null
    "$B/chat-bench" startup --server "$B/chat-server" --dir "$work/big-node" --port "$port" -- \
        --postgres "${url/\/postgres\?//big?}" | sed 's/"bench":"startup"/"bench":"startup-postgres"/' | tee -a "$results"
fi

python3 - "$results" "${1:-/dev/stdout}" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
out = open(sys.argv[2], "a")
out.write("\n| store | senders × in flight | durable sends/s (median of rounds) | ack p50 ms | ack p99 ms | chat-server CPU µs/send | PostgreSQL CPU µs/send |\n|---|---|---|---|---|---|---|\n")
keys = []
for r in rows:
    if r["bench"] != "durable": continue
    k = (r["label"], r["senders"], r.get("window", 1))
    if k not in keys: keys.append(k)
for k in keys:
    rs = [r for r in rows if (r["label"], r["senders"], r.get("window", 1)) == k]
    med = lambda f: statistics.median(f(r) for r in rs)
    cpu = med(lambda r: (r.get("server_cpu_seconds") or 0) / max(r["messages"], 1) * 1e6)
    pg = med(lambda r: r["postgres_cpu_seconds"] / max(r["messages"], 1) * 1e6)
    name = {"always": "file, --fsync always", "everysec": "file, --fsync everysec", "postgres": "--postgres"}[k[0]]
    out.write(f"| {name} | {k[1]} × {k[2]} | {int(med(lambda r: r['sends_per_sec'])):,} | {med(lambda r: r['ack_p50_ms']):.2f} | "
              f"{med(lambda r: r['ack_p99_ms']):.2f} | {cpu:.0f} | {pg:.0f} |\n")
startups = [r for r in rows if r["bench"].startswith("startup")]
if startups:
    out.write("\n| start with the stored messages | ready after (s) | RSS (MiB) | SIGTERM to exit (s) |\n|---|---|---|---|\n")
    for r in startups:
        what = "data directory (snapshot)" if r["bench"] == "startup-file" else "--postgres"
        out.write(f"| {what} | {r['ready_seconds']:.2f} | {int(r['rss_mib'])} | {r['shutdown_seconds']:.2f} |\n")
PY
