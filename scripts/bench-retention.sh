#!/usr/bin/env bash
# Retention (`--retain-days`, issue 16) on a large history, on loopback, every step bounded:
#  - `chat-bench gen-data --snapshot --cache-mib 64 --span-days SPAN_DAYS`: MESSAGES messages
#    (100-byte texts) in ROOMS rooms, sent evenly over the last SPAN_DAYS days, older ones in cold/;
#  - the server started with `--retain-days RETAIN_DAYS`: its first snapshot expires every
#    message older than that; the time of that compaction (the rewrite of each room's cold
#    files), RSS and disk before and after;
#  - every room paged from head to seq 1 (`chat-bench history --modes check`): no gap, no duplicate;
#  - a second start: its first snapshot expires only what aged since (the steady-state cost of
#    one check: every room where anything expired is rewritten).
# Prints JSON lines and a markdown summary.
# Usage: [MESSAGES=10000000] [ROOMS=1000] [SPAN_DAYS=365] [RETAIN_DAYS=330] [BUILD=0]
#        scripts/bench-retention.sh [OUT.md]
set -euo pipefail
cd "$(dirname "$0")/.."
MESSAGES=${MESSAGES:-10000000}
ROOMS=${ROOMS:-1000}
SPAN_DAYS=${SPAN_DAYS:-365}
RETAIN_DAYS=${RETAIN_DAYS:-330}
if [ "${BUILD:-1}" = 1 ]; then
    swift build -c release --product chat-server >/dev/null
    swift build -c release --product chat-bench >/dev/null
fi
B=${BIN:-.build/release}
work=$(mktemp -d)
results="$work/results.jsonl"
trap 'pkill -P $$ chat-server 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')

"$B/chat-bench" gen-data --dir "$work/d" --messages "$MESSAGES" --rooms "$ROOMS" --snapshot --cache-mib 64 \
    --span-days "$SPAN_DAYS" | tee -a "$results"
echo "{\"bench\":\"disk\",\"mode\":\"before\",\"bytes\":$(du -sb --exclude=search "$work/d" | cut -f1)}" | tee -a "$results"

# Starts the server, waits for its first snapshot after an expiry pass (at most 30 min), prints
# the snapshot line's figures with the RSS, and leaves the server running as $server.
start_and_expire() {
    local mode=$1 log="$work/server-$1.log"
    "$B/chat-server" --host 127.0.0.1 --port "$port" --data-dir "$work/d" --log-format json --cache-mib 64 \
        --retain-days "$RETAIN_DAYS" --read-rate-per-sec 1000000 --read-rate-burst 1000000 2>"$log" &
    server=$!
    local started=$SECONDS
    for _ in $(seq 1 18000); do
        grep -q '"snapshot written"' "$log" 2>/dev/null && break
        kill -0 "$server" 2>/dev/null || { echo "server exited" >&2; exit 1; }
        sleep 0.1
    done
    local rss
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$server/status")
    python3 - "$log" "$mode" "$rss" "$((SECONDS - started))" <<'PY' | tee -a "$results"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
snap = next(r for r in rows if r.get("message") == "snapshot written")
secs = lambda v: float(str(v).split()[0])
print(json.dumps({"bench": "retention", "mode": sys.argv[2], "rooms_expired": int(snap["chat.rooms_expired"]),
                  "compaction_seconds": round(secs(snap["chat.compaction_seconds"]), 2),
                  "snapshot_seconds": round(secs(snap["chat.seconds"]), 2),
                  "rss_mib": int(sys.argv[3]) // 1024, "wall_seconds": int(sys.argv[4])}))
PY
}

start_and_expire first
"$B/chat-bench" history --url "ws://127.0.0.1:$port" --rooms "$ROOMS" --pages 1 --modes check --max-seconds 1800 \
    | tee -a "$results"
kill -TERM "$server"
wait "$server" || true
echo "{\"bench\":\"disk\",\"mode\":\"after\",\"bytes\":$(du -sb --exclude=search "$work/d" | cut -f1)}" | tee -a "$results"
start_and_expire second
kill -TERM "$server"
wait "$server" || true

python3 - "$results" "${1:-/dev/stdout}" "$RETAIN_DAYS" "$SPAN_DAYS" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
by = {r["bench"] + r.get("mode", ""): r for r in rows}
gen, first, second = by["gen-data"], by["retentionfirst"], by["retentionsecond"]
retain, span = float(sys.argv[3]), float(sys.argv[4])
out = open(sys.argv[2], "a")
out.write(f"\n{gen['messages']:,} messages in {gen['rooms']:,} rooms (100-byte texts) sent over {span:g} days, "
          f"`--cache-mib 64`, served with `--retain-days {retain:g}` (about {(span - retain) / span:.1%} expire).\n\n")
out.write("| measure | value |\n|---|---|\n")
out.write(f"| disk before / after (without the search index, which the server builds meanwhile) | {by['diskbefore']['bytes'] / 2**20:,.0f} / {by['diskafter']['bytes'] / 2**20:,.0f} MiB |\n")
for name, r in (("first start (the expiry)", first), ("second start (what aged since)", second)):
    out.write(f"| {name}: rooms expired, compaction, snapshot total | {r['rooms_expired']:,} rooms, "
              f"{r['compaction_seconds']} s, {r['snapshot_seconds']} s |\n")
    out.write(f"| {name}: RSS after | {r['rss_mib']:,} MiB |\n")
c = by.get("history-check")
if c:
    out.write(f"| every seq 1…head exactly once through `history` paging, after the expiry | {c['rooms']:,} rooms, "
              f"{c['messages']:,} messages: {'passed' if c['ok'] else 'FAILED'} |\n")
PY
