#!/usr/bin/env bash
# Terminal client benchmarks (issue 4), loopback only, bounded:
#  - render time of a full 200x60 screen with 10k messages of scrollback, and
#    keystroke -> new frame (update + render), from `chat-bench render` (release);
#  - startup: `chat` in tmux until the status bar shows it connected;
#  - idle CPU: the connected client's CPU time over 10 s of doing nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product chat-bench >/dev/null
swift build -c release --product chat-server >/dev/null
swift build -c release --product chat >/dev/null
B=.build/release
work=$(mktemp -d)
sock="bench-tui-$$"
trap 'tmux -L "$sock" kill-server 2>/dev/null || true; kill "$server" 2>/dev/null && wait "$server" 2>/dev/null; rm -rf "$work"' EXIT

"$B/chat-bench" render --width 200 --height 60 --messages 10000 --iterations 300
"$B/chat-bench" render --width 80 --height 24 --messages 10000 --iterations 300

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
"$B/chat-server" --host 127.0.0.1 --port "$port" --data-dir "$work/data" --log-level warning &
server=$!
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.05; done
export XDG_CONFIG_HOME="$work/config" CHAT_PASSWORD="bench-password"
"$B/chat" login --server "ws://127.0.0.1:$port" --user bencher --register >/dev/null
start=$(date +%s%N)
tmux -L "$sock" -u new-session -d -s b -x 200 -y 60 \
    "env LANG=C.UTF-8 TERM=xterm-256color XDG_CONFIG_HOME=$XDG_CONFIG_HOME $B/chat --server ws://127.0.0.1:$port --user bencher --room lobby"
until tmux -L "$sock" capture-pane -p -t b | grep -q "● bencher"; do
    sleep 0.01
    [ $(( ($(date +%s%N) - start) / 1000000 )) -lt 10000 ] || { echo "client did not connect" >&2; exit 1; }
done
ready_ms=$(( ($(date +%s%N) - start) / 1000000 ))
pid=$(pgrep -f "^$B/chat --server ws://127.0.0.1:$port" | head -1)
[ -n "$pid" ] || { echo "chat process not found" >&2; exit 1; }
cat "/proc/$pid/cmdline" | tr "\\0" " " >&2; echo >&2
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
t0=$(ticks "$pid"); sleep 10; t1=$(ticks "$pid")
hz=$(getconf CLK_TCK)
python3 -c "print('{\"bench\":\"tui-startup\",\"ready_ms\":%d,\"idle_cpu_percent_over_10s\":%.2f}' % ($ready_ms, ($t1-$t0)*100.0/$hz/10))"
