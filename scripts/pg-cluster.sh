#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests and benchmarks, on loopback only.
#   scripts/pg-cluster.sh start DIR [OWNER_PID]   initdb DIR/db (as the postgres user when run as
#       root: the server refuses root), start it on a free 127.0.0.1 port with its socket in DIR,
#       print the URL (also written to DIR/url). With OWNER_PID, a watchdog stops the cluster and
#       removes DIR once that process is gone (a test run that crashes leaves nothing running).
#   scripts/pg-cluster.sh stop DIR                 stop it (SIGINT to the postmaster) and remove DIR.
#   scripts/pg-cluster.sh restart DIR [SECONDS]    stop it (fast shutdown: clients are disconnected),
#       stay down SECONDS (default 0), start it again on the same port.
#   scripts/pg-cluster.sh down DIR / up DIR         the two halves of restart.
# Needs PostgreSQL's server binaries (Debian: apt-get install postgresql).
set -euo pipefail
usage="usage: pg-cluster.sh start DIR [OWNER_PID] | stop DIR | restart DIR [SECONDS] | down DIR | up DIR"
cmd=${1:?$usage}
dir=${2:?$usage}
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
stop() {
    if [ -f "$dir/db/postmaster.pid" ]; then
        pid=$(head -1 "$dir/db/postmaster.pid")
        kill -INT "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -rf "$dir"
}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
launch() { # port
    as_pg "$bin/pg_ctl" -D "$dir/db" -l "$dir/pg.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -c port=$1 -c unix_socket_directories=$dir -c max_connections=300 -c fsync=on" \
        start >/dev/null || {
        cat "$dir/pg.log" >&2
        exit 1
    }
}
case "$cmd" in
start)
    [ -n "$bin" ] && [ -x "$bin/initdb" ] || {
        echo "PostgreSQL's server is not installed (Debian: apt-get install postgresql)" >&2
        exit 1
    }
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
    as_pg "$bin/initdb" -D "$dir/db" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        exit 1
    }
    launch "$port"
    url="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
    echo "$url" >"$dir/url"
    if [ -n "${3:-}" ]; then
        owner=$3
        (
            trap '' HUP
            while kill -0 "$owner" 2>/dev/null; do sleep 1; done
            stop
        ) </dev/null >/dev/null 2>&1 &
        disown
    fi
    echo "$url"
    ;;
stop) stop ;;
restart | down | up)
    port=$(sed -e 's/.*:\([0-9]*\)\/.*/\1/' "$dir/url")
    [ "$cmd" = up ] || as_pg "$bin/pg_ctl" -D "$dir/db" -m fast -w -t 60 stop >/dev/null
    [ "$cmd" = restart ] && sleep "${3:-0}"
    [ "$cmd" = down ] || launch "$port"
    ;;
*)
    echo "$usage" >&2
    exit 2
    ;;
esac
