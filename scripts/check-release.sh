#!/usr/bin/env bash
# Checks what scripts/release.sh built, as a user without a Swift toolchain gets it:
#   1. the archive, unpacked into an empty directory: each binary links only libraries of the
#      allow-list below, runs '--version' with an empty environment, and each man page renders;
#   2. the two .deb packages (as root): installed with apt-get, chat-server started from the
#      installed files as the 'chat' user with the packaged flags (only --port is changed, to a
#      free one on loopback), an account registered with an invite through the installed 'chat',
#      a message sent and read back, then remove and purge, and nothing left but the 'chat' user.
# systemd is not running here: the unit is installed and enabled (its symlink), not started.
#
# Usage: scripts/check-release.sh DIST-DIR VERSION [--no-deb]
set -euo pipefail

dist=$(cd "${1:?usage: scripts/check-release.sh DIST-DIR VERSION [--no-deb]}" && pwd)
version=${2:?usage: scripts/check-release.sh DIST-DIR VERSION [--no-deb]}
with_deb=${3:-}
fail() { echo "check-release: FAIL: $*" >&2; exit 1; }
ok() { echo "  ok: $*"; }

# Shared libraries a stock Debian/Ubuntu has (glibc, libstdc++/libgcc, SQLite, zlib, ncurses).
allowed='^(linux-vdso\.so\.1|ld-linux-x86-64\.so\.2|ld-linux-aarch64\.so\.1|libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|libutil\.so\.1|libstdc\+\+\.so\.6|libgcc_s\.so\.1|libsqlite3\.so\.0|libz\.so\.1|libncursesw\.so\.6|libtinfo\.so\.6|libpanelw\.so\.6)$'

cd "$dist"
sha256sum --quiet -c SHA256SUMS || fail "SHA256SUMS does not match"
ok "SHA256SUMS"
archive=$(ls chat-"$version"-linux-*.tar.gz)
work=$(mktemp -d)
server_pid=
cleanup() {
    [[ -n $server_pid ]] && pkill -u chat -x chat-server 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

echo "==> the archive, unpacked into an empty directory"
tar -C "$work" -xzf "$archive"
tree=$work/${archive%.tar.gz}
for binary in chat-server chat chat-conformance; do
    path=$tree/bin/$binary
    [[ -x $path ]] || fail "$binary missing from the archive"
    libs=$(ldd "$path" | awk '{print $1}' | xargs -n1 basename)
    for lib in $libs; do
        [[ $lib =~ $allowed ]] || fail "$binary links $lib, which is not on the allow-list"
    done
    ldd "$path" | grep -q "not found" && fail "$binary: a library is missing"
    ldd "$path" | grep -qi swift && fail "$binary links a Swift runtime library dynamically"
    # An empty environment: no PATH, no HOME, nothing from the build tree.
    line=$(cd "$work" && env -i "$path" --version)
    [[ $line == "$version (commit "*")" ]] || fail "$binary --version printed '$line'"
    ok "$binary: links $(echo "$libs" | grep -v -e vdso -e ld-linux | tr '\n' ' '); --version: $line"
done
for page in share/man/man1/chat.1 share/man/man1/chat-conformance.1 share/man/man8/chat-server.8; do
    rendered=$(MANWIDTH=80 man -l "$tree/$page" 2>&1) || fail "man -l $page: $rendered"
    name=$(basename "${page%.*}")
    grep -q "$name" <<<"$rendered" || fail "man -l $page does not name $name"
    ok "man -l $page ($(wc -l <<<"$rendered") lines)"
done
for binary in chat-server chat chat-conformance; do
    for file in "$binary.bash" "_$binary" "$binary.fish"; do
        [[ -s $tree/share/completions/$file ]] || fail "completion $file missing or empty"
    done
done
bash -n "$tree/share/completions/chat.bash" || fail "the bash completion does not parse"
ok "completions for bash, zsh, fish"

[[ $with_deb == --no-deb ]] && exit 0
[[ $(id -u) == 0 ]] || fail "the package check needs root (it installs into this machine)"

echo "==> the Debian packages"
debarch=$(dpkg --print-architecture)
server_deb=$dist/chat-server_${version}_$debarch.deb
client_deb=$dist/chat_${version}_$debarch.deb
dpkg-deb --info "$server_deb" >/dev/null && dpkg-deb --info "$client_deb" >/dev/null
if dpkg -s chat-server >/dev/null 2>&1 || dpkg -s chat >/dev/null 2>&1; then
    fail "chat-server or chat is installed already; this check installs and purges them"
fi
before=$(mktemp)
find / -xdev \( -path /proc -o -path /sys -o -path /tmp -o -path /var/tmp -o -path /work -o -path /root -o -path /var/cache -o -path /var/log -o -path /var/lib/apt -o -path /var/lib/dpkg -o -path /run \) -prune -o -print 2>/dev/null | sort >"$before"
apt-get install -y -qq "$server_deb" "$client_deb" >/dev/null
ok "installed: $(dpkg-query -W -f='${Package} ${Version}\n' chat-server chat | paste -sd, - | sed 's/,/, /')"
getent passwd chat >/dev/null || fail "no 'chat' system user"
[[ $(stat -c '%a %U:%G' /var/lib/chat-server) == "700 chat:chat" ]] ||
    fail "/var/lib/chat-server is $(stat -c '%a %U:%G' /var/lib/chat-server)"
[[ -f /lib/systemd/system/chat-server.service || -f /usr/lib/systemd/system/chat-server.service ]] ||
    fail "the unit is not installed"
[[ -L /etc/systemd/system/multi-user.target.wants/chat-server.service ]] || fail "the unit is not enabled"
grep -qx /etc/default/chat-server /var/lib/dpkg/info/chat-server.conffiles || fail "/etc/default/chat-server is no conffile"
[[ $(command -v chat-server) == /usr/bin/chat-server && $(command -v chat) == /usr/bin/chat ]] || fail "binaries not on PATH"
man -w chat-server >/dev/null && man -w chat >/dev/null || fail "man pages not found by man"
ok "user chat, /var/lib/chat-server 0700, unit installed and enabled (not started: no systemd here), conffile, man pages"

# The packaged flags, as the unit passes them; only the port changes (a free one; loopback only).
# shellcheck disable=SC1091
. /etc/default/chat-server
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
runuser -u chat -- /usr/bin/chat-server serve $CHAT_SERVER_OPTS --port "$port" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null || { cat "$work/server.log"; fail "the installed server does not answer"; }
server=$(pgrep -u chat -x chat-server) || fail "no chat-server process of the user chat"
ok "chat-server runs as user $(ps -o user= -p "$server" | tr -d ' ') with the packaged flags, port $port"

home=$work/home
mkdir -p "$home"
export HOME=$home XDG_CONFIG_HOME=$home/.config
url=ws://127.0.0.1:$port
# Two people, each with an invite, through the installed client: alice writes, bob reads and
# answers, alice reads the answer.
for who in alice bob; do
    invite=$(runuser -u chat -- chat-server invite create --data-dir /var/lib/chat-server 2>/dev/null)
    CHAT_PASSWORD=correct-horse-battery-$who chat login --register --invite "$invite" --server "$url" --user "$who" >/dev/null
done
chat send --server "$url" --user alice --room lobby "hello from the package" >/dev/null
# tail follows until interrupted: give it 5 s.
got=$(timeout 5 chat tail --server "$url" --user bob --room lobby --since 0 2>/dev/null || true)
grep -q '"hello from the package"' <<<"$got" || fail "bob did not get alice's message: $got"
chat send --server "$url" --user bob --room lobby "hello back" >/dev/null
got=$(timeout 5 chat tail --server "$url" --user alice --room lobby --since 0 2>/dev/null || true)
grep -q '"hello back"' <<<"$got" || fail "alice did not get bob's answer: $got"
ok "alice and bob signed up with invites through the installed chat and exchanged messages"
kill "$server"
wait "$server_pid" 2>/dev/null || true
server_pid=

apt-get remove -y -qq chat-server chat >/dev/null
[[ -f /etc/default/chat-server ]] || fail "remove deleted the conffile"
[[ ! -e /usr/bin/chat-server && ! -e /usr/bin/chat ]] || fail "remove left the binaries"
ok "removed: binaries gone, conffile kept"
# chat has no conffiles: remove took all of it, and apt no longer knows the name.
dpkg -s chat >/dev/null 2>&1 && fail "the chat package is still known to dpkg after remove"
apt-get purge -y -qq chat-server >/dev/null
after=$(mktemp)
find / -xdev \( -path /proc -o -path /sys -o -path /tmp -o -path /var/tmp -o -path /work -o -path /root -o -path /var/cache -o -path /var/log -o -path /var/lib/apt -o -path /var/lib/dpkg -o -path /run \) -prune -o -print 2>/dev/null | sort >"$after"
left=$(comm -13 "$before" "$after" | grep -v -e '^/etc/\(passwd\|group\|shadow\|gshadow\|subuid\|subgid\)-\?$' -e '^/var/lib/systemd/deb-systemd-helper-\(enabled\|masked\)$' || true)
[[ -z $left ]] || fail "purge left: $left"
[[ ! -e /var/lib/chat-server && ! -e /etc/default/chat-server ]] || fail "purge left the data or the conffile"
getent passwd chat >/dev/null && ok "purged: nothing left but the 'chat' system user (kept, as Debian policy asks)"
rm -f "$before" "$after"
echo "check-release: all checks passed"
