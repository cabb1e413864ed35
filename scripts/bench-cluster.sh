#!/usr/bin/env bash
# A cluster of `chat-server --postgres URL --cluster` nodes (issue 17) with 1, 2 and 3 nodes on one
# PostgreSQL, side by side in one pass with the embedded store (`--fsync always`, the same
# guarantee: an acknowledged send is on disk) and a single `--postgres` node without --cluster.
# Every node runs on this machine, beside PostgreSQL and the load generators: the figures say
# what the cluster's design costs, not what N machines would give.
#   durable: 64 senders (each in its own room), 1 and 16 sends in flight each, spread evenly over
#            the nodes: one `chat-bench durable` per node, run at once; sends/s is their sum.
#   fanout:  one publisher on node 1 and 100 subscribers of its room on node 1 (same node) or on
#            node 2 (across nodes), at a fixed 1,000 messages/s: publish→deliver p50/p99.
# Server CPU is every chat-server's, PostgreSQL CPU every postgres process's (from /proc). Every
# run is bounded (30 s). Prints JSON lines; ROUNDS passes, alternating the set-ups.
# Usage: [ROUNDS=2] [BUILD=1] scripts/bench-cluster.sh
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
servers=()
cleanup() {
    for pid in "${servers[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    scripts/pg-cluster.sh stop "$work/pg" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
url=$(scripts/pg-cluster.sh start "$work/pg")
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

ports=()
start_nodes() { # count, extra flags...
    local count=$1; shift
    servers=()
    ports=()
    for i in $(seq 1 "$count"); do
        local port
        port=$(free_port)
        "$B/chat-server" --host 127.0.0.1 --port "$port" --data-dir "$work/node-$RANDOM$RANDOM" --log-level warning \
            --rate-per-sec 1000000 --rate-burst 1000000 --max-connections-per-address 100000 \
            --room-creation-per-min 100000 --membership-changes-per-min 100000 --max-rooms-per-user 100000 "$@" &
        servers+=($!)
        ports+=("$port")
        for _ in $(seq 1 600); do curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.05; done
        curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null || { echo "node $i did not start" >&2; exit 1; }
    done
}
stop_nodes() {
    for pid in "${servers[@]}"; do kill -TERM "$pid"; done
    for pid in "${servers[@]}"; do wait "$pid" || true; done
    servers=()
}
cpu_of() { # pids... → CPU seconds (user + system)
    local total=0 t
    for pid in "$@"; do
        t=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)
        total=$((total + t))
    done
    echo "$total $(getconf CLK_TCK)" | awk '{printf "%.3f", $1 / $2}'
}
pg_cpu() { cpu_of $(pgrep -x postgres); }
new_db() { # name → URL
    psql "$url" -q -c "CREATE DATABASE $1"
    echo "${url/\/postgres\?//$1?}"
}

durable() { # label, window
    local label=$1 window=$2 k=${#ports[@]}
    local per=$((64 / k)) pids=() outs=() i
    local pg_before srv_before
    pg_before=$(pg_cpu)
    srv_before=$(cpu_of "${servers[@]}")
    for i in $(seq 0 $((k - 1))); do
        outs+=("$work/durable-$i.json")
        "$B/chat-bench" durable --url "ws://127.0.0.1:${ports[$i]}" --senders "$per" --window "$window" \
            --messages $((per * window * 400)) --max-seconds 30 --label "$label" >"${outs[$i]}" &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid"; done
    python3 - "$label" "$window" "$k" "$round" "$pg_before" "$(pg_cpu)" "$srv_before" "$(cpu_of "${servers[@]}")" "${outs[@]}" <<'PY' | tee -a "$results"
import json, sys
label, window, nodes, rnd = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
pg = float(sys.argv[6]) - float(sys.argv[5]); srv = float(sys.argv[8]) - float(sys.argv[7])
runs = [json.load(open(p)) for p in sys.argv[9:]]
sent = sum(r["messages"] for r in runs)
print(json.dumps({"bench": "cluster-durable", "label": label, "nodes": nodes, "round": rnd, "window": window,
    "senders": sum(r["senders"] for r in runs), "messages": sent,
    "sends_per_sec": round(sum(r["sends_per_sec"] for r in runs)),
    "ack_p50_ms": max(r["ack_p50_ms"] for r in runs), "ack_p99_ms": max(r["ack_p99_ms"] for r in runs),
    "errors": sum(r["errors"] for r in runs), "timed_out": any(r["timed_out"] for r in runs),
    "server_cpu_us_per_send": round(srv / sent * 1e6, 1) if sent else None,
    "postgres_cpu_us_per_send": round(pg / sent * 1e6, 1) if sent else None}))
PY
}

fanout() { # label, subscriber node index
    local label=$1 sub=$2
    "$B/chat-bench" fanout --protocol chat --url "ws://127.0.0.1:${ports[0]}" \
        --subscriber-url "ws://127.0.0.1:${ports[$sub]}" --subscribers 100 --messages 5000 --rate 1000 \
        --window 64 --max-seconds 30 --label "$label" |
        python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); r["round"]=int(sys.argv[1]); print(json.dumps(r))' "$round" |
        tee -a "$results"
}

for round in $(seq 1 "$ROUNDS"); do
    start_nodes 1 --fsync always
    durable "file-always" 1
    durable "file-always" 16
    fanout "file-always same-node" 0
    stop_nodes

    start_nodes 1 --postgres "$(new_db "single_$round")"
    durable "postgres-single" 1
    durable "postgres-single" 16
    stop_nodes

    for k in 1 2 3; do
        db=$(new_db "cluster_${k}_$round")
        start_nodes "$k" --postgres "$db" --cluster
        durable "cluster" 1
        durable "cluster" 16
        fanout "cluster $k nodes, same node" 0
        if [ "$k" -ge 2 ]; then fanout "cluster $k nodes, across nodes" 1; fi
        stop_nodes
    done
done
echo "results: $results"
cp "$results" "${OUT:-/tmp/bench-cluster.jsonl}"
