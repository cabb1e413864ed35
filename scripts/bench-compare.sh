#!/usr/bin/env bash
# Side-by-side comparison of two chat-server binaries (A: before, B: after) in one pass,
# alternating A and B run by run so that machine noise hits both alike. Measures
#  - fan-out to 1000 subscribers (chat-bench fanout and ../shared/peers/fanout.c when present),
#  - durable sends under --fsync everysec: 1 sender with 1 in flight, 64 senders with 16 in flight.
# Every run is bounded (messages and seconds) and on loopback.
# A_FLAGS and B_FLAGS add flags to one side's server (e.g. A_FLAGS="--snapshot-log-mib 1"
# B_FLAGS="--snapshot-log-mib 1 --hot-messages 200" to measure B while it compacts).
# Usage: [BENCH=path/to/chat-bench] [FANOUT_N="100 1000"] [DURABLE=0] [POLICIES="everysec always"] \
#        [A_FLAGS="..."] [B_FLAGS="..."] scripts/bench-compare.sh SERVER_A SERVER_B [ROUNDS] [OUT.md]
set -euo pipefail
cd "$(dirname "$0")/.."
A=$1 B=$2 ROUNDS=${3:-3} OUT=${4:-/dev/stdout}
FANOUT_N=${FANOUT_N:-1000} DURABLE=${DURABLE:-1} POLICIES=${POLICIES:-everysec}
BENCH=${BENCH:-.build/release/chat-bench}
[ -x "$BENCH" ] || swift build -c release --product chat-bench >/dev/null
work=$(mktemp -d)
results="$work/results.jsonl"
server=""
trap '[ -n "$server" ] && kill -KILL "$server" 2>/dev/null; rm -rf "$work"' EXIT
FANOUT=""
if [ -f ../shared/peers/fanout.c ] && command -v gcc >/dev/null; then
    gcc -O2 -Wall -o "$work/fanout" ../shared/peers/fanout.c && FANOUT="$work/fanout"
fi
SRV=() GEN=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then SRV=(taskset -c 1) GEN=(taskset -c 0); fi

start() { # binary, label, flags...
    local bin=$1 label=$2; shift 2
    local extra=()
    # shellcheck disable=SC2206 # the flags are lists, split on spaces
    if [ "$label" = B ]; then extra=(${B_FLAGS:-}); else extra=(${A_FLAGS:-}); fi
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
    rm -rf "$work/data"
    "${SRV[@]}" "$bin" --host 127.0.0.1 --port "$port" --data-dir "$work/data" --log-level warning \
        --rate-per-sec 1000000 --rate-burst 1000000 --read-rate-per-sec 1000000 --read-rate-burst 1000000 \
        --membership-changes-per-min 1000000 --max-connections 100000 \
        --max-connections-per-address 100000 --room-creation-per-min 100000 "$@" "${extra[@]}" 2>"$work/server.log" &
    server=$!
    for _ in $(seq 1 400); do curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && return; sleep 0.05; done
    echo "server $label did not start" >&2
    exit 1
}
stop() {
    kill -TERM "$server" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$server" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    server=""
}
record() { # side, bench, json line
    python3 -c 'import json,sys; r=json.loads(sys.argv[3]); r["side"]=sys.argv[1]; r["case"]=sys.argv[2]; print(json.dumps(r))' \
        "$1" "$2" "$3" | tee -a "$results" >&2
}

for round in $(seq 1 "$ROUNDS"); do
    for side in A B; do
        bin=$A; [ "$side" = B ] && bin=$B
        for n in $FANOUT_N; do
            start "$bin" "$side" --fsync no
            line=$(timeout 300 "${GEN[@]}" "$BENCH" fanout --protocol chat --url "ws://127.0.0.1:$port" \
                --subscribers "$n" --messages $((5000000 / n)) --size 100 --window 64 --server-pid "$server" \
                --label "$side" | tail -1)
            record "$side" "fanout-$n-chat-bench" "$line"
            if [ -n "$FANOUT" ]; then
                line=$(timeout 300 "${GEN[@]}" "$FANOUT" -P chat -p "$port" -n "$n" -m $((5000000 / n)) -s 100 -w 64 \
                    -C 64 -T 240 -r "$server" -j | grep RESULT | sed 's/^RESULT //')
                record "$side" "fanout-$n-fanout.c" "$line"
            fi
            stop
        done
        [ "$DURABLE" = 1 ] || continue
        for policy in $POLICIES; do
            start "$bin" "$side" --fsync "$policy"
            suffix=""
            [ "$policy" = everysec ] || suffix="-$policy"
            for run in "1 1 5000" "64 16 60000"; do
                read -r senders window n <<<"$run"
                line=$(timeout 120 "${GEN[@]}" "$BENCH" durable --url "ws://127.0.0.1:$port" --senders "$senders" \
                    --window "$window" --messages "$n" --max-seconds 30 --server-pid "$server" --label "$side" | tail -1)
                record "$side" "durable-${senders}x${window}$suffix" "$line"
            done
            stop
        done
    done
done

python3 - "$results" "$A" "$B" "$ROUNDS" "${A_FLAGS:-}" "${B_FLAGS:-}" >>"$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
def metric(r):
    for k in ("deliveries_per_s", "deliveries_per_sec", "sends_per_sec", "messages_per_sec"):
        if k in r: return k, r[k]
    return None, None
cases = sorted({r["case"] for r in rows})
a = f" with `{sys.argv[5]}`" if sys.argv[5] else ""
b = f" with `{sys.argv[6]}`" if sys.argv[6] else ""
print(f"\nA = `{sys.argv[2]}`{a}, B = `{sys.argv[3]}`{b}, {sys.argv[4]} alternating rounds, median per side.\n")
print("| case | metric | A | B | B/A | server CPU µs per send A / B |")
print("|---|---|---|---|---|---|")
for c in cases:
    out = {}
    for side in ("A", "B"):
        vals = [metric(r) for r in rows if r["case"] == c and r["side"] == side]
        vals = [v for k, v in vals if v is not None]
        out[side] = statistics.median(vals) if vals else None
    key = next((metric(r)[0] for r in rows if r["case"] == c), "?")
    a, b = out["A"], out["B"]
    ratio = f"{b / a:.3f}" if a and b else "-"
    fmt = lambda v: f"{v:,.0f}" if v is not None else "-"
    cpu = {}
    for side in ("A", "B"):
        per = [r["server_cpu_seconds"] / r["messages"] * 1e6 for r in rows
               if r["case"] == c and r["side"] == side and r.get("bench") == "durable" and r.get("messages")]
        cpu[side] = f"{statistics.median(per):.1f}" if per else ""
    cpus = f"{cpu['A']} / {cpu['B']}" if cpu["A"] else ""
    print(f"| {c} | {key} | {fmt(a)} | {fmt(b)} | {ratio} | {cpus} |")
PY
