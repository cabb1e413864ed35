#!/usr/bin/env bash
# Moving up to PostgreSQL, measured (issue 17): a data directory of MESSAGES mixed Japanese/English
# messages in 100 rooms (chat-search-bench search-data) is indexed by the embedded SQLite index
# (chat-server reindex) and copied into a throwaway PostgreSQL cluster (chat-server migrate --from
# --to, which also fills the search tokens); then the same queries run on both (chat-search-bench
# search-query, and again with --postgres). Release builds; every step is bounded.
# Usage: [MESSAGES=1000000] [QUERIES=200] [BUILD=1] scripts/bench-pg-migrate.sh
set -euo pipefail
cd "$(dirname "$0")/.."
MESSAGES=${MESSAGES:-1000000}
QUERIES=${QUERIES:-200}
if [ "${BUILD:-1}" = 1 ]; then
    swift build -c release --product chat-server >/dev/null
    swift build -c release --product chat-search-bench >/dev/null
fi
bin=.build/release
work=$(mktemp -d)
chmod 755 "$work" # the cluster runs as the postgres user
cleanup() {
    scripts/pg-cluster.sh stop "$work/pg" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
url=$(scripts/pg-cluster.sh start "$work/pg")
"$bin/chat-search-bench" search-data --dir "$work/data" --messages "$MESSAGES" --rooms 100
start=$(date +%s.%N)
timeout 1800 "$bin/chat-server" reindex --data-dir "$work/data"
end=$(date +%s.%N)
echo "{\"bench\":\"sqlite-reindex\",\"messages\":$MESSAGES,\"seconds\":$(echo "$end - $start" | bc)}"
/usr/bin/time -f '{"bench":"pg-migrate-process","max_rss_kib":%M,"seconds":%e}' \
    timeout 1800 "$bin/chat-server" migrate --from "$work/data" --to "$url"
psql "$url" -At -c "SELECT json_build_object('bench','pg-size','database_mib',pg_database_size(current_database())/1048576,
    'messages_table_mib',pg_table_size('messages')/1048576,'search_index_mib',pg_relation_size('messages_search')/1048576,
    'primary_key_mib',pg_relation_size('messages_pkey')/1048576)"
psql "$url" -q -c "VACUUM ANALYZE messages"
echo "{\"bench\":\"sqlite-index-size\",\"mib\":$(( $(stat -c %s "$work/data/search/index.sqlite") / 1048576 ))}"
timeout 900 "$bin/chat-search-bench" search-query --dir "$work/data" --queries "$QUERIES"
timeout 900 "$bin/chat-search-bench" search-query --dir "$work/data" --queries "$QUERIES" --postgres "$url"
