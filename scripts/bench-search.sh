#!/usr/bin/env bash
# Search benchmarks (issue 7), on loopback, every run bounded in count and time:
#  - 1M mixed Japanese/English messages in 100 rooms (chat-search-bench search-data);
#  - offline index build with `chat-server reindex`: indexing throughput, index size;
#  - search latency p50/p99 per query kind on that index (search-query, in process, snippets included);
#  - index lag and send-to-searchable time under a sustained 5k msgs/s (search-lag, live server);
#  - the automatic rebuild of a deleted index by a running server.
# Prints JSON lines. Usage: scripts/bench-search.sh   (MESSAGES=… and RATE=… override the defaults;
# BUILD=.build-release uses binaries built with --scratch-path .build-release)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${BUILD:-.build}/release
if [ -z "${BUILD:-}" ]; then
    swift build -c release --product chat-server >/dev/null
    swift build -c release --product chat-search-bench >/dev/null
fi
work=$(mktemp -d)
server=
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
messages=${MESSAGES:-1000000}
rate=${RATE:-5000}

serve() { # dir
    "$B/chat-server" --host 127.0.0.1 --port "$port" --data-dir "$1" --log-level warning \
        --rate-per-sec 1000000 --rate-burst 1000000 --max-connections-per-address 100000 &
    server=$!
    for _ in $(seq 1 1200); do curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && return; sleep 0.05; done
    echo "server did not start" >&2; exit 1
}
stop() { kill -TERM "$server"; wait "$server" || true; server=; }
lag() { curl -fsS "http://127.0.0.1:$port/metrics" | awk '/^chat_search_index_lag_messages /{print $2}'; }

"$B/chat-search-bench" search-data --dir "$work/d" --messages "$messages" --rooms 100
log_bytes=$(du -cb "$work"/d/log-*.aof | tail -1 | cut -f1)
echo "{\"bench\":\"log-size\",\"bytes\":$log_bytes}"

# Offline build (the server is not running).
"$B/chat-server" reindex --data-dir "$work/d"
echo "{\"bench\":\"index-size\",\"bytes\":$(du -cb "$work"/d/search/index.sqlite* | tail -1 | cut -f1)}"

"$B/chat-search-bench" search-query --dir "$work/d" --queries 300 --member-of 20
"$B/chat-search-bench" search-query --dir "$work/d" --queries 300 --member-of 100

# Sustained load against a server holding the 1M messages and their index.
serve "$work/d"
"$B/chat-search-bench" search-lag --url "ws://127.0.0.1:$port" --rate "$rate" --seconds 30 --senders 16
stop

# A deleted index is rebuilt by the running server: time until the lag gauge reads 0.
rm -rf "$work/d/search"
start=$(date +%s.%N)
serve "$work/d"
ready=$(date +%s.%N)
for _ in $(seq 1 3600); do
    l=$(lag || echo "")
    [ "$l" = "0" ] || [ "$l" = "0.0" ] && break
    sleep 0.5
done
done_at=$(date +%s.%N)
python3 -c "print('{\"bench\":\"live-rebuild\",\"server_ready_s\":%.2f,\"caught_up_s\":%.2f,\"last_lag\":\"$l\"}' % ($ready-$start, $done_at-$start))"
stop
