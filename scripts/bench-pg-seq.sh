#!/usr/bin/env bash
# The ceiling of the multi-node design's message transaction on one PostgreSQL (issue 17, before
# any Swift code): a per-room counter row bumped with RETURNING and the message inserted under
# that seq, in one transaction, committed durably (fsync on, synchronous_commit on).
# A temporary cluster (initdb as the postgres user, loopback, a free port) is made, measured with
# pgbench and removed; every run is bounded in time.
# Cases: CLIENTS connections over ROOMS rooms; the same connections all on one room (the row
# lock serialises them: one commit at a time per room); 1 connection (commit latency); for
# comparison, the same transaction with synchronous_commit off (no fsync wait); the same work
# in one statement (one round trip); and 64 messages per transaction from one connection (the
# batching a node would do: transactions/s × 64 = messages/s).
# Usage: [CLIENTS=64] [ROOMS=1000] [SECONDS_PER_RUN=10] scripts/bench-pg-seq.sh [OUT.md]
set -euo pipefail
cd "$(dirname "$0")/.."
CLIENTS=${CLIENTS:-64}
ROOMS=${ROOMS:-1000}
T=${SECONDS_PER_RUN:-10}
OUT=${1:-/dev/stdout}
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
[ -x "$bin/initdb" ] || { echo "PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 1; }
work=$(mktemp -d)
chown postgres "$work"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
as_pg() { runuser -u postgres -- "$@"; }
cleanup() {
    [ -f "$work/db/postmaster.pid" ] && kill -INT "$(head -1 "$work/db/postmaster.pid")" 2>/dev/null || true
    sleep 1
    rm -rf "$work"
}
trap cleanup EXIT
as_pg "$bin/initdb" -D "$work/db" -A trust -U postgres >/dev/null
as_pg "$bin/pg_ctl" -D "$work/db" -l "$work/pg.log" -w \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$work -c max_connections=200" start >/dev/null
psql=(psql -h 127.0.0.1 -p "$port" -U postgres -q -v ON_ERROR_STOP=1)
"${psql[@]}" -c "CREATE TABLE rooms(key text PRIMARY KEY, head bigint NOT NULL DEFAULT 0)"
"${psql[@]}" -c "CREATE TABLE messages(room text NOT NULL, seq bigint NOT NULL, sender text NOT NULL,
    ts bigint NOT NULL, body text NOT NULL, PRIMARY KEY (room, seq))"
"${psql[@]}" -c "INSERT INTO rooms(key) SELECT 'room' || i FROM generate_series(1, $ROOMS) i"
cat >"$work/send.sql" <<'SQL'
\set r random(1, :rooms)
BEGIN;
UPDATE rooms SET head = head + 1 WHERE key = 'room' || :r RETURNING head AS seq \gset
INSERT INTO messages VALUES ('room' || :r, :seq, 'user', 0, repeat('y', 100));
COMMIT;
SQL
# The same work in one statement (one round trip instead of four).
cat >"$work/send-cte.sql" <<'SQL'
\set r random(1, :rooms)
WITH bumped AS (UPDATE rooms SET head = head + 1 WHERE key = 'room' || :r RETURNING key, head)
INSERT INTO messages SELECT key, head, 'user', 0, repeat('y', 100) FROM bumped;
SQL
# BATCH messages to random rooms in one statement (one transaction, one commit).
cat >"$work/send-batch.sql" <<'SQL'
WITH pick AS (SELECT 'room' || (1 + floor(random() * :rooms))::int AS key FROM generate_series(1, :batch)),
counts AS (SELECT key, count(*) AS n FROM pick GROUP BY key),
bumped AS (UPDATE rooms r SET head = r.head + c.n FROM counts c WHERE r.key = c.key RETURNING r.key, r.head, c.n)
INSERT INTO messages SELECT b.key, b.head - g + 1, 'user', 0, repeat('y', 100) FROM bumped b, generate_series(1, b.n) g;
SQL
run() { # label, clients, rooms, [PGOPTIONS], [script], [batch]
    local out
    out=$(PGOPTIONS="${4:-}" pgbench -h 127.0.0.1 -p "$port" -U postgres -n -c "$2" -j 2 -T "$T" -D rooms="$3" \
        -D batch="${6:-1}" -f "$work/${5:-send}.sql" postgres 2>&1)
    local tps lat
    tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<<"$out")
    lat=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' <<<"$out")
    echo "{\"bench\":\"pg-seq\",\"case\":\"$1\",\"clients\":$2,\"rooms\":$3,\"tps\":$tps,\"latency_avg_ms\":$lat}"
    printf '| %s | %s | %s | %s | %s |\n' "$1" "$2" "$3" "$tps" "$lat" >>"$work/table.md"
}
printf '| case | connections | rooms | transactions/s | latency avg ms |\n|---|---|---|---|---|\n' >"$work/table.md"
run "durable, spread over the rooms" "$CLIENTS" "$ROOMS"
run "durable, one room" "$CLIENTS" 1
run "durable, one connection" 1 "$ROOMS"
run "synchronous_commit off, spread" "$CLIENTS" "$ROOMS" "-c synchronous_commit=off"
run "one statement per message, spread" "$CLIENTS" "$ROOMS" "" send-cte
run "64 messages per transaction (one statement), one connection" 1 "$ROOMS" "" send-batch 64
rows=$("${psql[@]}" -At -c "SELECT count(*) FROM messages")
gaps=$("${psql[@]}" -At -c "SELECT count(*) FROM rooms r WHERE r.head <> (SELECT count(*) FROM messages m WHERE m.room = r.key)")
echo "{\"bench\":\"pg-seq-check\",\"messages\":$rows,\"rooms_with_a_gap\":$gaps}"
{
    echo
    echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}'), ${T} s per case, pgbench -j 2:"
    echo
    cat "$work/table.md"
    echo
    echo "Check: $rows messages stored, rooms whose head differs from their message count: $gaps."
} >>"$OUT"
