#!/usr/bin/env bash
# The Debian packages, end to end on this machine (needs root): builds them (packaging/build.sh),
# checks them with lintian (errors fail, warnings are listed), installs them with dpkg -i, builds a
# C agent with pkg-config and the C++ agent with CMake against the installed libscoutlb-dev, runs
# them and the scoutlb CLI against the packaged scout-server started as its system user on
# loopback, checks the size targets (ffi/size.sh) and the split debug info (gdb finds it), then
# purges the packages and checks that every file, the data folder and the system user are gone.
# Usage: packaging/test.sh     Ends with "packaging: N passed, N failed".
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
packages=(libscoutlb0 libscoutlb-dev scoutlb scout-server)
source "$root/tests/suite.sh"
finish() {
    finish_suite packaging
    exit
}

if [ "$(id -u)" != 0 ]; then
    echo "packaging/test.sh installs packages with dpkg: run it as root" >&2
    exit 1
fi
need=()
for pair in lintian:lintian cmake:cmake g++:g++ pkg-config:pkg-config dpkg-shlibdeps:dpkg-dev runuser:util-linux; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "missing: ${need[*]} (run tests/install-deps.sh)" >&2
    exit 1
fi

tmp=$(mktemp -d /tmp/scoutlb-packaging.XXXXXX)
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
# Leftovers of an interrupted earlier run of this test would hide what the packages do.
leftover=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q installed && leftover+=("$p")
done
if [ ${#leftover[@]} -gt 0 ]; then
    echo "purging ${leftover[*]}, left over from an earlier run"
    dpkg --purge "${leftover[@]}" >/dev/null
fi

step "build the packages (packaging/build.sh)"
if ! bash packaging/build.sh "$tmp/debs" >"$tmp/build.log" 2>&1; then
    cat "$tmp/build.log"
    bad "packaging/build.sh"
    finish
fi
cat "$tmp/build.log"
mapfile -t debs < <(grep '\.deb$' "$tmp/build.log")
ok "packaging/build.sh built ${#debs[@]} packages"
built=()
for deb in "${debs[@]}"; do
    built+=("$(dpkg-deb -f "$deb" Package)")
    printf '   %-16s %9s bytes  %s\n' "$(dpkg-deb -f "$deb" Package)" "$(stat -c %s "$deb")" \
        "Installed-Size $(dpkg-deb -f "$deb" Installed-Size) KiB; Depends: $(dpkg-deb -f "$deb" Depends)"
done

step "lintian (errors fail; warnings listed)"
lintian --no-tag-display-limit "${debs[@]}" >"$tmp/lintian.log" 2>&1
cat "$tmp/lintian.log"
errors=$(grep -c '^E: ' "$tmp/lintian.log" || true)
warnings=$(grep -c '^W: ' "$tmp/lintian.log" || true)
check "lintian: $errors error(s), $warnings warning(s)" test "$errors" = 0

step "the size targets (ffi/size.sh on the same build)"
check "ffi/size.sh" bash ffi/size.sh --no-build

step "split debug info (ffi/install.sh --debug-symbols, same build)"
if ffi/install.sh "$tmp/dbg" --debug-symbols --no-build >/dev/null; then
    lib=$(echo "$tmp"/dbg/lib/libscoutlb.so.*.*.*)
    id=$(readelf -n "$lib" | sed -n 's/.*Build ID: \([0-9a-f]*\).*/\1/p')
    dbg=$tmp/dbg/lib/debug/.build-id/${id:0:2}/${id:2}.debug
    check "stripped library, its debug info in lib/debug/.build-id/${id:0:2}/${id:2}.debug, named by .gnu_debuglink" \
        bash -c "! readelf -S '$lib' | grep -q debug_info && readelf -S '$dbg' | grep -q debug_info &&
            readelf --debug-dump=links '$lib' 2>/dev/null | grep -q 'libscoutlb.so.*.debug'"
    if command -v gdb >/dev/null 2>&1; then
        check "gdb finds the source line of scoutlb_client_new through the debug file" bash -c \
            "timeout 120 gdb -batch -nx -iex 'set debug-file-directory $tmp/dbg/lib/debug' \
                -ex 'info line scoutlb_client_new' '$lib' 2>&1 | grep -q 'ffi/src/client.rs'"
    fi
else
    bad "ffi/install.sh --debug-symbols"
fi

step "install with dpkg -i"
if ! dpkg -i "${debs[@]}" >"$tmp/dpkg.log" 2>&1; then
    cat "$tmp/dpkg.log"
    bad "dpkg -i"
    finish
fi
ok "dpkg -i ${built[*]}"
for p in "${built[@]}"; do
    dpkg -L "$p" >>"$tmp/files"
done
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
check "ldconfig knows libscoutlb.so.0" bash -c "ldconfig -p | grep -q 'libscoutlb.so.0 .*/lib/$multiarch/libscoutlb.so.0'"
check "pkg-config finds scoutlb without PKG_CONFIG_PATH" test -n "$(pkg-config --modversion scoutlb)"
check "libscoutlb-dev ships the Valgrind suppression" grep -qx /usr/share/scoutlb/scoutlb.supp "$tmp/files"
check "the system user scout-server and its data folder" bash -c \
    'getent passwd scout-server >/dev/null && [ "$(stat -c %U /var/lib/scout-server)" = scout-server ]'
if command -v systemd-analyze >/dev/null 2>&1; then
    check "systemd-analyze verify scout-server.service" bash -c \
        'systemd-analyze verify /usr/lib/systemd/system/scout-server.service 2>&1 | grep -v "^$" | (! grep -i "scout-server")'
fi

step "the packaged scout-server, as its system user, on loopback"
runuser -u scout-server -- /usr/bin/scout-server --db /var/lib/scout-server/test.sqlite --listen 127.0.0.1:0 \
    >"$tmp/server.out" 2>"$tmp/server.err" &
server_pid=$!
port=
for _ in $(seq 100); do
    port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$tmp/server.out")
    [ -n "$port" ] && break
    sleep 0.1
done
if [ -z "$port" ]; then
    cat "$tmp/server.err"
    bad "scout-server did not start"
    finish
fi
ok "scout-server listens on 127.0.0.1:$port (database in /var/lib/scout-server)"
printf '{"servers": ["127.0.0.1:%s"], "state_file": "%s/state.json"}\n' "$port" "$tmp" >"$tmp/agent.json"

step "agents built against the installed libscoutlb-dev"
if cc -std=c99 -Wall -Wextra -Wpedantic -Werror examples/c/agent.c $(pkg-config --cflags --libs scoutlb) \
    -o "$tmp/agent_c"; then
    ok "cc examples/c/agent.c \$(pkg-config --cflags --libs scoutlb)"
    check "the C agent connects to the packaged server" \
        bash -c "'$tmp/agent_c' '$tmp/agent.json' 2>/dev/null | grep -q 'connected to 127.0.0.1:$port'"
else
    bad "cc examples/c/agent.c with pkg-config"
fi
if cc -std=c99 -Wall -Wextra -Wpedantic -Werror examples/c/agent.c $(pkg-config --cflags --libs scoutlb-static) \
    -o "$tmp/agent_c_static" && ! readelf -d "$tmp/agent_c_static" | grep -q 'NEEDED.*libscoutlb'; then
    check "the C agent linked with pkg-config scoutlb-static (libscoutlb.a) connects to the packaged server" \
        bash -c "'$tmp/agent_c_static' '$tmp/agent.json' 2>/dev/null | grep -q 'connected to 127.0.0.1:$port'"
else
    bad "cc examples/c/agent.c \$(pkg-config --cflags --libs scoutlb-static) links libscoutlb.a"
fi
cp -r examples/cpp "$tmp/cpp"
if cmake -S "$tmp/cpp" -B "$tmp/cpp/build" >"$tmp/cmake.log" 2>&1 && cmake --build "$tmp/cpp/build" >>"$tmp/cmake.log" 2>&1; then
    ok "cmake: find_package(scoutlb 0.1) from /usr/lib/$multiarch/cmake builds the C++ agent (shared and static)"
    for exe in agent agent_static; do
        check "the C++ $exe connects to the packaged server and reads its list" bash -c \
            "'$tmp/cpp/build/$exe' '$tmp/agent.json' 2>/dev/null | grep -q '^  127.0.0.1:$port\$'"
    done
else
    cat "$tmp/cmake.log"
    bad "cmake builds examples/cpp against the installed package"
fi

# Whether the installed man page's CONFIGURATION section has a heading for each key of $1.
man_lists_keys() {
    local page key
    page=$(MANWIDTH=100 man /usr/share/man/man1/scoutlb.1.gz 2>/dev/null | sed -n '/^CONFIGURATION/,/^ENVIRONMENT/p')
    [ -n "$1" ] && [ -n "$page" ] || return 1
    for key in $1; do
        grep -qE "^ +$key( |\$)" <<<"$page" || { echo "the man page lacks the key $key"; return 1; }
    done
}
if [[ " ${built[*]} " == *" scoutlb "* ]]; then
    step "the scoutlb CLI package"
    check "scoutlb connect reaches the packaged server" \
        bash -c "scoutlb --config '$tmp/agent.json' connect | grep -q '127.0.0.1:$port'"
    check "man page" test -s /usr/share/man/man1/scoutlb.1.gz
    check "the DHCP hook is shipped, and parses as sh" sh -n /usr/share/scoutlb/dhcp/scoutlb-dhcp-hook
    keys=$(sed -n 's/^ *name: "\([a-z_]*\)",$/\1/p' proto/src/config.rs)
    check "the man page lists every configuration key of scoutlb::KEYS ($(wc -w <<<"$keys"))" man_lists_keys "$keys"
    check "bash completion registers for scoutlb" bash -c \
        '. /usr/share/bash-completion/completions/scoutlb && complete -p scoutlb >/dev/null'
    check "zsh completion in zsh's vendor folder" test -s /usr/share/zsh/vendor-completions/_scoutlb
    check "fish completion in fish's vendor folder" test -s /usr/share/fish/vendor_completions.d/scoutlb.fish
    if command -v fish >/dev/null 2>&1; then
        check "fish completes 'scoutlb c' from the installed file" bash -c \
            "fish --no-config -c 'source /usr/share/fish/vendor_completions.d/scoutlb.fish; complete -C\"scoutlb c\"' | grep -q '^connect'"
    fi
fi

kill "$server_pid" 2>/dev/null
wait "$server_pid" 2>/dev/null
server_pid=

step "remove: dpkg --purge"
if dpkg --purge "${built[@]}" >"$tmp/purge.log" 2>&1; then
    ok "dpkg --purge ${built[*]}"
else
    cat "$tmp/purge.log"
    bad "dpkg --purge"
fi
left=()
while read -r f; do
    [ -d "$f" ] && continue
    if [ -e "$f" ] || [ -L "$f" ]; then left+=("$f"); fi
done <"$tmp/files"
check "every packaged file is gone${left:+ (left: ${left[*]})}" test ${#left[@]} = 0
check "/var/lib/scout-server and /etc/default/scout-server are gone" \
    test ! -e /var/lib/scout-server -a ! -e /etc/default/scout-server
check "the system user scout-server is gone" bash -c '! getent passwd scout-server >/dev/null'
check "ldconfig forgot libscoutlb.so.0" bash -c '! ldconfig -p | grep -q libscoutlb'
finish
