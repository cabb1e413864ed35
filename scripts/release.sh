#!/usr/bin/env bash
# Builds a release that runs without a Swift toolchain:
#   dist/chat-VERSION-linux-ARCH.tar.gz   chat-server, chat, chat-conformance (release builds,
#                                         Swift runtime linked statically), man pages, bash/zsh/fish
#                                         completions, the systemd unit, README and docs
#   dist/chat-server_VERSION_DEBARCH.deb  the server: a 'chat' system user, /var/lib/chat-server 0700,
#                                         the hardened unit (enabled, not started), /etc/default/chat-server
#   dist/chat_VERSION_DEBARCH.deb         the client
#   dist/SHA256SUMS
#
# Usage: scripts/release.sh VERSION [OUTPUT-DIR]
#   VERSION: e.g. 0.3.0 or 0.3.0~rc1 (digits and dots first; a Debian version).
#   CHAT_RELEASE_BUILD_PATH: SwiftPM build directory for the release build (default .build-release).
#   CHAT_MANUAL_CONFIGURATION: configuration the generate-manual plugin builds in (default debug:
#     the man pages do not depend on it, and CI has the debug build already).
set -euo pipefail

version=${1:?usage: scripts/release.sh VERSION [OUTPUT-DIR]}
[[ $version =~ ^[0-9]+(\.[0-9]+)*([~+][0-9A-Za-z.~+]+)?$ ]] || {
    echo "release: VERSION must look like 0.3.0 or 0.3.0~rc1, not '$version'" >&2
    exit 2
}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=$(mkdir -p "${2:-dist}" && cd "${2:-dist}" && pwd)
build=${CHAT_RELEASE_BUILD_PATH:-.build-release}
manual_configuration=${CHAT_MANUAL_CONFIGURATION:-debug}

arch=$(uname -m)
case $arch in
x86_64) debarch=amd64 ;;
aarch64 | arm64) debarch=arm64 arch=aarch64 ;;
*) debarch=$arch ;;
esac
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
if [[ $commit != unknown ]] && ! git diff --quiet HEAD -- Sources Package.swift; then commit+=-dirty; fi
name=chat-$version-linux-$arch
stage=$(mktemp -d)
info=Sources/ChatCore/BuildInfo.swift
cp "$info" "$stage/BuildInfo.swift.orig"
restore() {
    cp "$stage/BuildInfo.swift.orig" "$root/$info"
    rm -rf "$stage"
}
trap restore EXIT

echo "==> man pages (swift-argument-parser's generate-manual plugin, $manual_configuration build)"
# Before the version is stamped: the pages do not show it, and the debug build stays up to date.
swift package plugin --allow-writing-to-package-directory generate-manual \
    --configuration "$manual_configuration" --date "$(date -u +%Y-%m-%d)" >"$stage/manual-1.log" 2>&1 ||
    { cat "$stage/manual-1.log"; exit 1; }
manuals=.build/plugins/GenerateManual/outputs
mkdir -p "$stage/man"
cp "$manuals/chat/chat.1" "$manuals/chat-conformance/chat-conformance.1" "$stage/man/"
swift package plugin --allow-writing-to-package-directory generate-manual \
    --configuration "$manual_configuration" --date "$(date -u +%Y-%m-%d)" --section 8 >"$stage/manual-8.log" 2>&1 ||
    { cat "$stage/manual-8.log"; exit 1; }
cp "$manuals/chat-server/chat-server.8" "$stage/man/"

echo "==> release build of $version (commit $commit), Swift runtime linked statically"
sed -i "s/static let version = \"[^\"]*\"/static let version = \"$version\"/; \
s/static let commit = \"[^\"]*\"/static let commit = \"$commit\"/" "$info"
grep -q "\"$version\"" "$info" || { echo "release: could not stamp $info" >&2; exit 1; }
for product in chat-server chat chat-conformance; do
    swift build -c release --static-swift-stdlib --build-path "$build" --product "$product"
done
bin=$(swift build -c release --static-swift-stdlib --build-path "$build" --show-bin-path)

echo "==> archive $name.tar.gz"
tree=$stage/$name
mkdir -p "$tree/bin" "$tree/share/man/man1" "$tree/share/man/man8" "$tree/share/completions" "$tree/systemd" "$tree/docs"
for product in chat-server chat chat-conformance; do
    install -m 0755 "$bin/$product" "$tree/bin/$product"
    strip "$tree/bin/$product"
done
install -m 0644 "$stage/man/chat.1" "$stage/man/chat-conformance.1" "$tree/share/man/man1/"
install -m 0644 "$stage/man/chat-server.8" "$tree/share/man/man8/"
for product in chat-server chat chat-conformance; do
    "$tree/bin/$product" --generate-completion-script bash >"$tree/share/completions/$product.bash"
    "$tree/bin/$product" --generate-completion-script zsh >"$tree/share/completions/_$product"
    "$tree/bin/$product" --generate-completion-script fish >"$tree/share/completions/$product.fish"
done
install -m 0644 docs/chat-server.service "$tree/systemd/chat-server.service"
install -m 0644 README.md "$tree/README.md"
for licence in LICENSE LICENSE.md LICENSE.txt COPYING; do
    if [[ -f $licence ]]; then install -m 0644 "$licence" "$tree/$licence"; fi
done
install -m 0644 docs/PROTOCOL.md docs/OPERATIONS.md docs/SECURITY.md "$tree/docs/"
tar -C "$stage" --owner=0 --group=0 --numeric-owner -czf "$out/$name.tar.gz" "$name"

# Debian packages (dpkg-deb only). Depends: what the binaries link dynamically, by package.
depends() {
    local libs
    libs=$(ldd "$@" | awk '$2 == "=>" {print $1}' | sort -u)
    local deps=()
    for lib in $libs; do
        local path
        path=$(ldconfig -p | awk -v l="$lib" '$1 == l {print $NF; exit}')
        [[ -n $path ]] || continue
        local pkg=""
        for candidate in "$path" "$(readlink -f "$path")" "/usr$path" "${path#/usr}"; do
            pkg=$(dpkg -S "$candidate" 2>/dev/null | head -1 | cut -d: -f1 || true)
            [[ -n $pkg ]] && break
        done
        [[ -n $pkg ]] || { echo "release: no Debian package owns $lib ($path)" >&2; exit 1; }
        deps+=("$pkg")
    done
    printf '%s\n' "${deps[@]}" | sort -u | paste -sd, - | sed 's/,/, /g'
}

deb_common() { # $1 package dir, $2 package name, $3 depends, $4 description
    local dir=$1
    mkdir -p "$dir/DEBIAN" "$dir/usr/share/doc/$2"
    install -m 0644 README.md "$dir/usr/share/doc/$2/README.md"
    local size
    size=$(du -sk --exclude=DEBIAN "$dir" | cut -f1)
    cat >"$dir/DEBIAN/control" <<EOF
Package: $2
Version: $version
Architecture: $debarch
Maintainer: chat maintainers <chat@localhost>
Installed-Size: $size
Depends: $3
Section: net
Priority: optional
Homepage: https://localhost/chat
Description: $4
EOF
}

echo "==> chat-server_${version}_$debarch.deb"
pkg=$stage/deb-server
install -D -m 0755 "$tree/bin/chat-server" "$pkg/usr/bin/chat-server"
install -D -m 0644 "$tree/share/man/man8/chat-server.8" "$pkg/usr/share/man/man8/chat-server.8"
gzip -9n "$pkg/usr/share/man/man8/chat-server.8"
install -D -m 0644 "$tree/share/completions/chat-server.bash" "$pkg/usr/share/bash-completion/completions/chat-server"
install -D -m 0644 "$tree/share/completions/_chat-server" "$pkg/usr/share/zsh/vendor-completions/_chat-server"
install -D -m 0644 "$tree/share/completions/chat-server.fish" "$pkg/usr/share/fish/vendor_completions.d/chat-server.fish"
mkdir -p "$pkg/lib/systemd/system" "$pkg/etc/default"
# The packaged unit: the documented one, its flags from /etc/default/chat-server.
sed -e 's|^ExecStart=.*|EnvironmentFile=-/etc/default/chat-server\nExecStart=/usr/bin/chat-server serve $CHAT_SERVER_OPTS|' \
    docs/chat-server.service >"$pkg/lib/systemd/system/chat-server.service"
grep -q '^ExecStart=/usr/bin/chat-server serve \$CHAT_SERVER_OPTS$' "$pkg/lib/systemd/system/chat-server.service"
cat >"$pkg/etc/default/chat-server" <<'EOF'
# Flags for chat-server (see chat-server(8) and 'chat-server serve --help').
# On a host address other than loopback, sign-up is by invite: create the first code with
#   sudo -u chat chat-server invite create --data-dir /var/lib/chat-server
CHAT_SERVER_OPTS="--host 0.0.0.0 --port 7878 --data-dir /var/lib/chat-server --fsync everysec"
EOF
server_depends=$(depends "$tree/bin/chat-server")
deb_common "$pkg" chat-server "$server_depends, adduser" \
    "self-hosted team chat server (protocol v1 over WebSocket)
 Accounts, public and private rooms, direct messages, history, search and presence,
 with an append-only log and snapshots. Runs as the 'chat' system user with its data
 in /var/lib/chat-server; the systemd unit is enabled but not started."
echo /etc/default/chat-server >"$pkg/DEBIAN/conffiles"
cat >"$pkg/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
    if ! getent passwd chat >/dev/null; then
        adduser --system --group --home /var/lib/chat-server --no-create-home \
            --gecos "chat-server" --shell /usr/sbin/nologin chat >/dev/null
    fi
    install -d -m 0700 -o chat -g chat /var/lib/chat-server
    chown chat:chat /var/lib/chat-server
    chmod 0700 /var/lib/chat-server
    # Enabled, not started: the operator picks the flags in /etc/default/chat-server first.
    if command -v deb-systemd-helper >/dev/null; then
        deb-systemd-helper enable chat-server.service >/dev/null || true
    fi
    if [ -d /run/systemd/system ]; then
        systemctl --system daemon-reload >/dev/null || true
        # An upgrade restarts a running server (deb-systemd-invoke honours policy-rc.d).
        if [ -n "$2" ] && command -v deb-systemd-invoke >/dev/null; then
            deb-systemd-invoke try-restart chat-server.service >/dev/null || true
        fi
    fi
fi
exit 0
EOF
cat >"$pkg/DEBIAN/prerm" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ] && command -v deb-systemd-invoke >/dev/null; then
    deb-systemd-invoke stop chat-server.service >/dev/null || true
fi
exit 0
EOF
cat >"$pkg/DEBIAN/postrm" <<'EOF'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
    systemctl --system daemon-reload >/dev/null || true
fi
if [ "$1" = remove ] && command -v deb-systemd-helper >/dev/null; then
    deb-systemd-helper mask chat-server.service >/dev/null || true
fi
if [ "$1" = purge ]; then
    if command -v deb-systemd-helper >/dev/null; then
        deb-systemd-helper purge chat-server.service >/dev/null || true
        deb-systemd-helper unmask chat-server.service >/dev/null || true
    fi
    # The data (messages, accounts) goes with purge; the 'chat' system user stays, as Debian
    # policy asks (files it owned elsewhere would otherwise pass to a reused uid).
    rm -rf /var/lib/chat-server
fi
exit 0
EOF
chmod 0755 "$pkg/DEBIAN/postinst" "$pkg/DEBIAN/prerm" "$pkg/DEBIAN/postrm"
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$out/chat-server_${version}_$debarch.deb" >/dev/null

echo "==> chat_${version}_$debarch.deb"
pkg=$stage/deb-client
install -D -m 0755 "$tree/bin/chat" "$pkg/usr/bin/chat"
install -D -m 0644 "$tree/share/man/man1/chat.1" "$pkg/usr/share/man/man1/chat.1"
gzip -9n "$pkg/usr/share/man/man1/chat.1"
install -D -m 0644 "$tree/share/completions/chat.bash" "$pkg/usr/share/bash-completion/completions/chat"
install -D -m 0644 "$tree/share/completions/_chat" "$pkg/usr/share/zsh/vendor-completions/_chat"
install -D -m 0644 "$tree/share/completions/chat.fish" "$pkg/usr/share/fish/vendor_completions.d/chat.fish"
client_depends=$(depends "$tree/bin/chat")
deb_common "$pkg" chat "$client_depends" \
    "terminal client for chat-server
 An ncurses client (rooms, direct messages, history, search, presence) and a
 scriptable CLI (login, send, tail, search) for chat protocol v1."
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$out/chat_${version}_$debarch.deb" >/dev/null

(cd "$out" && sha256sum "$name.tar.gz" "chat-server_${version}_$debarch.deb" "chat_${version}_$debarch.deb" >SHA256SUMS)
echo "==> done: $out"
ls -l "$out"
