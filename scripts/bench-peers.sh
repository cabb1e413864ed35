#!/usr/bin/env bash
# Fan-out and idle-connection benchmarks, side by side (issues 6 and 19): chat-server, Redis pub/sub,
# ngircd and InspIRCd, all on loopback, each driven by two independent load generators: chat-bench
# (one SwiftNIO event-loop thread) and the C epoll generator /work/shared/peers/fanout.c (built here
# with gcc; FANOUT_C=path to use another copy, FANOUT_C= to skip it), so a bias of either shows. Installs the peers from apt if missing, writes their configs with
# flood limits off (after /work/shared/peers/conf), starts each server on its own loopback port,
# runs the scenarios, stops everything and prints a markdown table.
#
# Usage: scripts/bench-peers.sh [OUT.md]      (results as JSON lines in $RESULTS or a temp file)
#        scripts/bench-peers.sh --summarize RESULTS.jsonl [OUT.md]   (tables from earlier results)
# Knobs (environment): RUNS=3  NS="100 1000"  SIZE=100  WINDOW=64  CONNS=10000
#   MSGS_100=20000 MSGS_1000=3000 (messages per run at N=100 / N=1000)  PIN=1 (server on CPU 1,
#   load generator on CPU 0)  SYSTEMS="chat redis inspircd ngircd"  HALF_RATE=1 (latency at half
#   of Redis's N=1000 rate)  BUILD=1  FANOUT_C=/work/shared/peers/fanout.c  CHAT_BEFORE=path/to/an/older/chat-server (adds system "chat-before",
#   the same scenarios against that binary, for before/after figures from one run)
# Every wait is bounded; every server is started by this script and stopped by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
NS=${NS:-"100 1000"}
SIZE=${SIZE:-100}
WINDOW=${WINDOW:-64}
CONNS=${CONNS:-10000}
MSGS_100=${MSGS_100:-20000}
MSGS_1000=${MSGS_1000:-3000}
PIN=${PIN:-1}
SYSTEMS=${SYSTEMS:-"chat redis inspircd ngircd"}
HALF_RATE=${HALF_RATE:-1}
BUILD=${BUILD:-1}
FANOUT_C=${FANOUT_C-/work/shared/peers/fanout.c}
OUT=${1:-/dev/stdout}

summarize() { # results.jsonl out.md
python3 - "$1" "$2" "$WINDOW" "$SIZE" "$PIN" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
out = open(sys.argv[2], "a")
window, size, pin = sys.argv[3], sys.argv[4], sys.argv[5]
names = {"chat": "chat-server", "chat-before": "chat-server before", "redis": "Redis", "inspircd": "InspIRCd", "ngircd": "ngircd"}
def med(xs):
    return statistics.median(xs) if xs else None
def fmt(x, digits=2):
    return "–" if x is None else (f"{x:,.0f}" if digits == 0 else f"{x:.{digits}f}")
fan = {}
for r in rows:
    if r.get("bench") == "fanout":
        fan.setdefault((r["label"], r["subscribers"]), []).append(r)
out.write(f"\n### Fan-out: one publisher, N subscribers, {size}-byte messages, window {window}\n\n")
out.write("Median of the runs (each column on its own); `runs` counts completed runs of those tried. "
          "\"server share\" is the server's CPU time ÷ run time (of its one pinned core), \"others\" the CPU other "
          "processes on the machine used meanwhile, in cores. RSS growth is the "
          "largest of the runs (later runs reuse memory the server kept from earlier ones).\n\n")
out.write("| system | N | deliveries/s | p50 ms | p99 ms | max ms | server CPU µs per delivery | server share | others (cores) | server RSS growth per subscriber (KiB) | runs |\n")
out.write("|---|---|---|---|---|---|---|---|---|---|---|\n")
def base(label):
    return label[:-5] if label.endswith("-half") else label
for (label, n), rs in sorted(fan.items(), key=lambda kv: (list(names).index(base(kv[0][0])) if base(kv[0][0]) in names else 9, "-half" in kv[0][0], kv[0][1])):
    ok = [r for r in rs if not r["timed_out"] and r["lost_connections"] == 0 and r["publish_errors"] == 0]
    name = names.get(base(label), base(label)) + (f" at {ok[0]['rate']:.0f} msg/s (half of Redis)" if "-half" in label and ok and "rate" in ok[0] else "")
    cpu = med([r["server_cpu_seconds"] / r["deliveries"] * 1e6 for r in ok if r.get("server_cpu_seconds") is not None and r["deliveries"]])
    share = med([r["server_cpu_seconds"] / r["seconds"] for r in ok if r.get("server_cpu_seconds") is not None and r["seconds"] > 0])
    rss = max([(r["server_rss_connected_kib"] - r["server_rss_before_kib"]) / r["subscribers"] for r in ok if "server_rss_connected_kib" in r], default=None)
    out.write(f"| {name} | {n} | {fmt(med([r['deliveries_per_sec'] for r in ok]), 0)} | {fmt(med([r['latency_p50_ms'] for r in ok]))} | "
              f"{fmt(med([r['latency_p99_ms'] for r in ok]))} | {fmt(med([r['latency_max_ms'] for r in ok]))} | {fmt(cpu)} | "
              f"{'–' if share is None else f'{share * 100:.0f} %'} | "
              f"{fmt(med([r.get('other_cpu_seconds', 0) / r['seconds'] for r in ok if r['seconds'] > 0]), 1)} | {fmt(rss, 1)} | {len(ok)}/{len(rs)} |\n")
cfan = {}
for r in rows:
    if r.get("bench") == "fanout-c":
        cfan.setdefault((r["label"], r["subscribers"]), []).append(r)
if cfan:
    out.write(f"\n### Fan-out measured by the C generator (fanout.c), same servers, same pass\n\n")
    out.write("Median of the runs. \"run queue\" is the share of the publish phase the server's threads spent "
              "runnable but waiting for a CPU (fanout.c reads it from /proc).\n\n")
    out.write("| system | N | deliveries/s | p50 ms | p99 ms | max ms | server CPU µs per delivery | server share | run queue | runs |\n")
    out.write("|---|---|---|---|---|---|---|---|---|---|\n")
    for (label, n), rs in sorted(cfan.items(), key=lambda kv: (list(names).index(kv[0][0]) if kv[0][0] in names else 9, kv[0][1])):
        ok = [r for r in rs if r["complete"]]
        cpu = med([r["server_cpu_seconds"] / r["deliveries"] * 1e6 for r in ok if r["deliveries"]])
        share = med([r["server_cpu_seconds"] / r["seconds"] for r in ok if r["seconds"] > 0])
        out.write(f"| {names.get(label, label)} | {n} | {fmt(med([r['deliveries_per_sec'] for r in ok]), 0)} | "
                  f"{fmt(med([r['latency_p50_ms'] for r in ok]))} | {fmt(med([r['latency_p99_ms'] for r in ok]))} | "
                  f"{fmt(med([r['latency_max_ms'] for r in ok]))} | {fmt(cpu)} | {'–' if share is None else f'{share * 100:.0f} %'} | "
                  f"{fmt(med([r['runq_pct'] for r in ok]), 0)} % | {len(ok)}/{len(rs)} |\n")
out.write("\n### Idle authenticated connections\n\n")
out.write("| system | connections | held | server bytes per connection | set-up s |\n|---|---|---|---|---|\n")
for r in rows:
    if r.get("bench") == "conns":
        out.write(f"| {names.get(r['label'], r['label'])} | {r['opened']:,} of {r['count']:,} | {'yes' if r['held'] else 'no'} | "
                  f"{fmt(r.get('bytes_per_conn'), 0)} | {r['setup_seconds']} |\n")
fails = [r for r in rows if r.get("bench") == "failed"]
for r in fails:
    out.write(f"\nFailed: {r['label']}: {r['error'].strip()[-200:]}\n")
def value(r, key):
    if key == "cpu_per_delivery":
        return r["server_cpu_seconds"] / r["deliveries"] * 1e6 if r.get("server_cpu_seconds") and r["deliveries"] else None
    return r[key]
def ratio(a, b, key, n, table=fan):
    x = med([v for r in table.get((a, n), []) if not r["timed_out"] and (v := value(r, key)) is not None])
    y = med([v for r in table.get((b, n), []) if not r["timed_out"] and (v := value(r, key)) is not None])
    return None if not x or not y else x / y
for title, table in (("chat-bench", fan), ("the C generator", cfan)):
    if not table:
        continue
    out.write(f"\nRatios measured by {title} (chat-server ÷ peer, same run):\n\n")
    for peer in ("redis", "inspircd", "ngircd"):
        for n in sorted({k[1] for k in table}):
            r = ratio("chat", peer, "deliveries_per_sec", n, table)
            c = ratio("chat", peer, "cpu_per_delivery", n, table)
            if r is not None:
                out.write(f"- deliveries/s at N={n}: {r:.2f}× {names[peer]}'s; server CPU per delivery: "
                          f"{'–' if c is None else f'{c:.2f}×'} {names[peer]}'s\n")
    for n in sorted({k[1] for k in table}):
        r = ratio("chat", "chat-before", "deliveries_per_sec", n, table)
        c = ratio("chat", "chat-before", "cpu_per_delivery", n, table)
        if r is not None:
            out.write(f"- deliveries/s at N={n}: {r:.2f}× chat-server before's; server CPU per delivery: "
                      f"{'–' if c is None else f'{c:.2f}×'}\n")
h = ratio("chat-half", "redis-half", "latency_p99_ms", 1000)
if h is not None:
    out.write(f"- p99 latency at half of Redis's N=1000 rate: {h:.2f}× Redis's\n")
out.write(f"\nServer pinned to CPU 1 and load generator to CPU 0: {'yes' if pin == '1' else 'no'}.\n")
PY
}

if [ "${1:-}" = --summarize ]; then
    OUT=${3:-/dev/stdout}
    summarize "$2" "$OUT"
    exit 0
fi

need() { # command package
    command -v "$1" >/dev/null 2>&1 && return
    echo "installing $2 from apt" >&2
    apt-get install -y "$2" >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get install -y "$2" >/dev/null; }
}
need redis-server redis-server
need ngircd ngircd
need inspircd inspircd

# 10k connections need descriptors on both sides.
ulimit -Hn 65536 2>/dev/null || true
ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -ge $((CONNS + 1000)) ] || echo "warning: ulimit -n is $(ulimit -n), below $CONNS connections" >&2

if [ "$BUILD" = 1 ]; then
    swift build -c release --product chat-server >/dev/null
    swift build -c release --product chat-bench >/dev/null
fi
B=$PWD/.build/release
work=$(mktemp -d /tmp/bench-peers.XXXXXX)
chmod 755 "$work" # ngircd drops root to nobody
FANOUT=""
if [ -n "$FANOUT_C" ]; then
    if [ -f "$FANOUT_C" ]; then
        need gcc gcc
        gcc -O2 -Wall -o "$work/fanout" "$FANOUT_C" && FANOUT=$work/fanout
    else
        echo "warning: $FANOUT_C not found: the C generator's columns are left out" >&2
    fi
fi
RESULTS=${RESULTS:-$work/results.jsonl}
server=""
cleanup() {
    if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then kill -TERM "$server" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

if [ "$PIN" = 1 ] && [ "$(nproc)" -ge 2 ]; then
    SRV=(taskset -c 1)
    GEN=(taskset -c 0)
else
    SRV=()
    GEN=()
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() { # port
    for _ in $(seq 1 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "nothing listens on port $1" >&2
    return 1
}

write_configs() {
    mkdir -p "$work/redis" "$work/inspircd" "$work/chat"
    cat >"$work/redis.conf" <<CONF
bind 127.0.0.1
port $REDIS_PORT
protected-mode yes
daemonize no
dir $work/redis
logfile $work/redis/redis.log
save ""
appendonly no
maxclients 20000
tcp-backlog 4096
timeout 0
tcp-keepalive 0
io-threads 1
client-output-buffer-limit pubsub 32mb 8mb 60
CONF
    cat >"$work/ngircd.conf" <<CONF
[Global]
	Name = ngircd.bench.local
	Info = ngircd benchmark peer
	AdminInfo1 = bench
	AdminInfo2 = localhost
	AdminEMail = bench@localhost
	Listen = 127.0.0.1
	Ports = $NGIRCD_PORT
	MotdPhrase = "bench"
[Limits]
	MaxConnections = 0
	MaxConnectionsIP = 0
	MaxJoins = 0
	MaxNickLength = 20
	MaxPenaltyTime = 0
	PingTimeout = 600
	PongTimeout = 120
	IdleTimeout = 0
[Options]
	DNS = no
	Ident = no
	PAM = no
	OperCanUseMode = yes
	SyslogFacility = local1
[Operator]
	Name = bench
	Password = benchpw
CONF
    cat >"$work/inspircd.conf" <<CONF
<server name="inspircd.bench.local" description="inspircd benchmark peer" network="BenchNet">
<admin name="bench" nick="bench" email="bench@localhost">
<bind address="127.0.0.1" port="$INSPIRCD_PORT" type="clients">
# threshold*1000 is an unsigned int: keep threshold <= 4000000.
<connect name="bench" allow="127.0.0.1" maxchans="100" timeout="60" pingfreq="10m" hardsendq="16M"
         softsendq="1M" recvq="1M" threshold="1000000" commandrate="1000000000" fakelag="no"
         localmax="100000" globalmax="100000" maxconnwarn="no" resolvehostnames="no" useident="no"
         limit="100000">
<connect name="deny-rest" deny="*">
<channels users="100" opers="100">
<options prefixquit="Quit: " syntaxhints="no" announcets="yes" hostintopic="yes" pingwarning="15" splitwhois="no" defaultmodes="nt">
<security hideserver="" userstats="Pu" customversion="" flatlinks="no" hidesplits="no" hideulines="no" hidebans="no" maxtargets="20">
<performance quietbursts="yes" softlimit="20000" somaxconn="4096" netbuffersize="10240" clonesonconnect="no">
<limits maxnick="30" maxchan="60" maxident="10" maxreal="130" maxhost="64" maxaway="200" maxkick="300" maxquit="300" maxtopic="330" maxmodes="20">
<pid file="$work/inspircd/inspircd.pid">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="default" target="$work/inspircd/ircd.log">
<files motd="$work/bench.motd">
<dns timeout="1">
CONF
    echo bench >"$work/bench.motd"
}

REDIS_PORT=$(free_port)
NGIRCD_PORT=$(free_port)
INSPIRCD_PORT=$(free_port)
CHAT_PORT=$(free_port)
write_configs

start() { # system
    local bin=$B/chat-server
    [ "$1" = chat-before ] && bin=$CHAT_BEFORE
    case $1 in
    chat | chat-before)
        rm -rf "$work/chat"
        # --fsync no: the log is written (write(2)) before each ok, never fsynced; Redis runs without
        # persistence. Rate and connection limits raised so neither the publisher nor N subscribers
        # from one address are refused (fanout.c's subscribers are one user: 1,000 joins need the
        # read-rate limit raised too).
        "${SRV[@]}" "$bin" --host 127.0.0.1 --port "$CHAT_PORT" --data-dir "$work/chat" --fsync no \
            --log-level warning --rate-per-sec 1000000 --rate-burst 1000000 --read-rate-per-sec 1000000 \
            --read-rate-burst 1000000 --max-connections 100000 --max-connections-per-address 100000 &
        server=$!
        URL=ws://127.0.0.1:$CHAT_PORT PROTO=chat PORT=$CHAT_PORT PAR=64 EXTRA=() CEXTRA=() ;;
    redis)
        "${SRV[@]}" redis-server "$work/redis.conf" &
        server=$!
        URL=redis://127.0.0.1:$REDIS_PORT PROTO=redis PORT=$REDIS_PORT PAR=64 EXTRA=() CEXTRA=() ;;
    inspircd)
        # Registration completes only in InspIRCd's once-per-second tick: many connects in flight.
        "${SRV[@]}" inspircd --runasroot --nofork --config="$work/inspircd.conf" >"$work/inspircd/stdout" 2>&1 &
        server=$!
        URL=irc://127.0.0.1:$INSPIRCD_PORT PROTO=irc PORT=$INSPIRCD_PORT PAR=1000 EXTRA=() CEXTRA=() ;;
    ngircd)
        # listen() backlog 10: at most 8 connects in flight; OPER + MODE +F lifts its flood limit.
        "${SRV[@]}" ngircd -n -f "$work/ngircd.conf" >"$work/ngircd.stdout" 2>&1 &
        server=$!
        URL=irc://127.0.0.1:$NGIRCD_PORT PROTO=irc PORT=$NGIRCD_PORT PAR=8 EXTRA=(--irc-oper bench:benchpw)
        CEXTRA=(-o bench:benchpw -F) ;;
    esac
    wait_port "$PORT"
    sleep 0.3
}
stop() {
    kill -TERM "$server" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$server" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    server=""
}
bench() { # label, chat-bench arguments... (a failed run is recorded as such, the script goes on)
    local label=$1; shift
    if ! timeout 400 "${GEN[@]}" "$B/chat-bench" "$@" --label "$label" >>"$RESULTS" 2>"$work/err"; then
        echo "{\"bench\":\"failed\",\"label\":\"$label\",\"error\":$(python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()[-300:]))' "$work/err")}" >>"$RESULTS"
    fi
    tail -1 "$RESULTS" >&2
}
cbench() { # label subscribers messages: one fan-out run of the C generator, as a JSON line
    [ -n "$FANOUT" ] || return 0
    local label=$1 n=$2 m=$3 line
    line=$(timeout 400 "${GEN[@]}" "$FANOUT" -P "$PROTO" -p "$PORT" -n "$n" -m "$m" -s "$SIZE" -w "$WINDOW" -C "$PAR" \
        -T 240 -r "$server" -j "${CEXTRA[@]}" 2>"$work/err" | grep '^RESULT ' | tail -1) || true
    python3 - "$label" "$n" "${line#RESULT }" "$work/err" >>"$RESULTS" <<'PY'
import json, sys
label, n, line, err = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
try:
    r = json.loads(line)
except ValueError:
    print(json.dumps({"bench": "failed", "label": label + " (fanout.c)", "error": open(err).read()[-300:]}))
    sys.exit()
print(json.dumps({"bench": "fanout-c", "label": label, "subscribers": n, "deliveries": r["deliveries"],
                  "complete": r["deliveries"] == r["expected"] and r["bad"] == 0, "timed_out": r["deliveries"] != r["expected"],
                  "deliveries_per_sec": r["deliveries_per_s"], "seconds": r["elapsed_s"],
                  "server_cpu_seconds": r["server_cpu_pct"] / 100 * r["elapsed_s"], "runq_pct": r["server_runq_wait_pct"],
                  "latency_p50_ms": r["p50_us"] / 1000, "latency_p99_ms": r["p99_us"] / 1000, "latency_max_ms": r["max_us"] / 1000}))
PY
    tail -1 "$RESULTS" >&2
}

for sys in $SYSTEMS; do
    # Idle connections on a fresh server.
    start "$sys"
    bench "$sys" conns --protocol "$PROTO" --url "$URL" --count "$CONNS" --server-pid "$server" --parallel "$PAR"
    stop
    start "$sys"
    for n in $NS; do
        m=$([ "$n" -ge 1000 ] && echo "$MSGS_1000" || echo "$MSGS_100")
        for run in $(seq 1 "$RUNS"); do
            bench "$sys" fanout --protocol "$PROTO" --url "$URL" --subscribers "$n" --messages "$m" --size "$SIZE" \
                --window "$WINDOW" --server-pid "$server" --parallel "$PAR" "${EXTRA[@]}"
            cbench "$sys" "$n" "$m"
        done
    done
    stop
done

# p99 latency at half of Redis's N=1000 rate, for Redis and chat-server (open-loop pacing).
if [ "$HALF_RATE" = 1 ] && [[ " $SYSTEMS " == *" redis "* ]] && [[ " $SYSTEMS " == *" chat "* ]]; then
    half=$(python3 - "$RESULTS" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
r = [x["messages_per_sec"] for x in rows if x.get("bench") == "fanout" and x.get("label") == "redis" and x["subscribers"] >= 1000 and not x["timed_out"]]
print(int(statistics.median(r) / 2) if r else 0)
PY
    )
    if [ "$half" -gt 0 ]; then
        for sys in redis chat; do
            start "$sys"
            for run in $(seq 1 "$RUNS"); do
                bench "$sys-half" fanout --protocol "$PROTO" --url "$URL" --subscribers 1000 --messages "$MSGS_1000" \
                    --size "$SIZE" --window "$WINDOW" --rate "$half" --server-pid "$server" --parallel "$PAR"
            done
            stop
        done
    fi
fi

summarize "$RESULTS" "$OUT"
