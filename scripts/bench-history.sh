#!/usr/bin/env bash
# Years of history on a small box (issue 16), on loopback, every run bounded:
#  - a data directory of MESSAGES stored messages (100-byte texts) in ROOMS rooms, made by
#    `chat-bench gen-data --snapshot --cache-mib CACHE_MIB`: the shape a long-running server
#    leaves (one snapshot with each room's newest messages, the rest in <data>/cold);
#    CACHE_MIB=none writes every body into the snapshot (a directory from before issue 16,
#    which the server compacts at its first snapshot);
#  - disk used, next to the raw text;
#  - start: time to /healthz and RSS (`chat-bench startup`);
#  - history pages of 50: PAGES random pages within the newest 200 messages of a room ("hot"),
#    then, after dropping the page cache where permitted, PAGES at random depths ("cold"),
#    server RSS after each;
#  - the check: every room paged from its head down to seq 1 (`history {before}`, pages of
#    500), failing on a gap, a duplicate or a wrong order;
#  - with COLD_STORE=1, the on-disk cold store alone (`chat-bench cold-store`): the same
#    messages written as compactions would, then PAGES random pages read after dropping the
#    page cache where permitted; disk, open time and the memory it keeps.
# Prints JSON lines and a markdown summary.
# Usage: [MESSAGES=10000000] [ROOMS=1000] [PAGES=10000] [CACHE_MIB=64] [COLD_STORE=0] [BUILD=0]
#        scripts/bench-history.sh [OUT.md]
set -euo pipefail
cd "$(dirname "$0")/.."
MESSAGES=${MESSAGES:-10000000}
ROOMS=${ROOMS:-1000}
PAGES=${PAGES:-10000}
CACHE_MIB=${CACHE_MIB:-64}
compact=(--cache-mib "$CACHE_MIB")
served=(--cache-mib "$CACHE_MIB")
if [ "$CACHE_MIB" = none ]; then compact=(); served=(); fi
if [ "${BUILD:-1}" = 1 ]; then
    swift build -c release --product chat-server >/dev/null
    swift build -c release --product chat-bench >/dev/null
fi
B=${BIN:-.build/release}
work=$(mktemp -d)
results="$work/results.jsonl"
trap 'pkill -P $$ chat-server 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')

"$B/chat-bench" gen-data --dir "$work/d" --messages "$MESSAGES" --rooms "$ROOMS" --snapshot "${compact[@]}" | tee -a "$results"
disk=$(du -sb "$work/d" | cut -f1)
echo "{\"bench\":\"disk\",\"bytes\":$disk,\"raw_text_bytes\":$((MESSAGES * 100))}" | tee -a "$results"
"$B/chat-bench" startup --server "$B/chat-server" --dir "$work/d" --port "$port" --max-seconds 600 \
    -- "${served[@]}" | tee -a "$results"

# Debug logs carry each request's server-side time (arrival to reply, `chat.duration_us`).
"$B/chat-server" --host 127.0.0.1 --port "$port" --data-dir "$work/d" --log-level debug --log-format json "${served[@]}" \
    --read-rate-per-sec 1000000 --read-rate-burst 1000000 2>"$work/server.log" &
server=$!
for _ in $(seq 1 6000); do curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
run() { "$B/chat-bench" history --url "ws://127.0.0.1:$port" --rooms "$ROOMS" --pages "$PAGES" --server-pid "$server" "$@"; }
server_side() { # mode, first log line: quantiles of the history requests' server-side time since then
    tail -n +"$2" "$work/server.log" | python3 -c '
import json, sys
us = sorted(int(r["chat.duration_us"]) for r in map(json.loads, sys.stdin)
            if r.get("chat.request.type") == "history" and "chat.duration_us" in r)
q = lambda p: us[min(len(us) - 1, int((len(us) - 1) * p))] / 1000 if us else 0
print(json.dumps({"bench": "history-server", "mode": sys.argv[1], "requests": len(us),
                  "p50_ms": q(0.5), "p99_ms": q(0.99), "max_ms": q(1)}))' "$1"
}
from=$(( $(wc -l <"$work/server.log") + 1 ))
run --modes hot | tee -a "$results"
server_side hot "$from" | tee -a "$results"
cache="kept (no permission to drop it)"
if sync && (echo 3 > /proc/sys/vm/drop_caches) 2>/dev/null; then cache="dropped"; fi
from=$(( $(wc -l <"$work/server.log") + 1 ))
run --modes cold | sed "s/\"mode\":\"cold\"/\"mode\":\"cold\",\"page_cache\":\"$cache\"/" | tee -a "$results"
server_side cold "$from" | tee -a "$results"
run --modes check --max-seconds 1800 | tee -a "$results"
kill -TERM "$server"
wait "$server" || true
rm -rf "$work/d"
[ "${COLD_STORE:-0}" = 1 ] && "$B/chat-bench" cold-store --dir "$work/cold" --messages "$MESSAGES" --rooms "$ROOMS" --pages "$PAGES" | tee -a "$results"

python3 - "$results" "${1:-/dev/stdout}" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
by = {}
for r in rows:
    by.setdefault(r["bench"] + r.get("mode", ""), r)
gen, disk, start = by["gen-data"], by["disk"], by["startup"]
out = open(sys.argv[2], "a")
shape = f"--cache-mib {gen['cache_mib']}" if gen.get("cache_mib") is not None else "every body in the snapshot"
out.write(f"\n{gen['messages']:,} messages in {gen['rooms']:,} rooms (100-byte texts), one snapshot ({shape}).\n\n")
out.write("| measure | value |\n|---|---|\n")
out.write(f"| disk (data directory) | {disk['bytes'] / 2**20:,.0f} MiB ({disk['bytes'] / disk['raw_text_bytes']:.2f}× the raw text) |\n")
out.write(f"| start: ready after | {start['ready_seconds']:.2f} s |\n")
out.write(f"| RSS after start | {int(start['rss_mib']):,} MiB |\n")
for mode in ("hot", "cold"):
    r = by.get("history" + mode)
    if r:
        extra = f", page cache {r['page_cache']}" if "page_cache" in r else ""
        out.write(f"| history page of {r['limit']}, {mode}{extra}: p50 / p99 / max (client, loopback) | {r['p50_ms']} / {r['p99_ms']} / {r['max_ms']} ms ({r['pages']:,} pages) |\n")
        srv = by.get("history-server" + mode)
        if srv:
            out.write(f"| the same pages, server side (arrival to reply, debug log): p50 / p99 / max | {srv['p50_ms']} / {srv['p99_ms']} / {srv['max_ms']} ms ({srv['requests']:,} requests) |\n")
        out.write(f"| RSS after the {mode} pages | {r.get('server_rss_mib', '–'):,} MiB |\n")
c = by.get("history-check")
if c:
    out.write(f"| every seq 1…head exactly once through `history` paging | {c['rooms']:,} rooms, {c['messages']:,} messages: {'passed' if c['ok'] else 'FAILED'} |\n")
s = by.get("cold-store")
if s:
    out.write(f"\nThe file cold store alone (`chat-bench cold-store`, the same {s['messages']:,} messages in {s['rooms']:,} rooms, written in rounds of 1,000 per room as compactions would):\n\n")
    out.write("| measure | value |\n|---|---|\n")
    out.write(f"| disk (segments + indexes) | {s['disk_bytes'] / 2**20:,.0f} MiB ({s['disk_bytes'] / s['raw_text_bytes']:.2f}× the raw text) |\n")
    out.write(f"| open (read every index, check every manifest entry) | {s['open_seconds']} s |\n")
    out.write(f"| memory it keeps (anchors, version offsets) | {s['memory_bytes'] / 2**20:.1f} MiB |\n")
    out.write(f"| page of {s['limit']} at a random depth, page cache {s['page_cache']}: p50 / p99 / max | {s['read_p50_ms']} / {s['read_p99_ms']} / {s['read_max_ms']} ms ({s['pages']:,} pages, in process) |\n")
PY
