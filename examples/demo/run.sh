#!/usr/bin/env bash
# The scoutlb demo: three Scout Servers on one SQLite file, and a device (the `scoutlb` command-line
# agent) that lives through the story of the Scout documentation: first contact, FailureLoadBalancing,
# restarts, ManagerLoadBalancing, and a dead balancer target.
#
#   bash examples/demo/run.sh
#
# Everything runs on 127.0.0.1 in a temporary folder that is removed at the end. The servers are
# stopped when the demo ends, fails or is interrupted (Ctrl-C). Exit status 0 when the story went as
# told; 1 when something did not (the output says what).
#
# Environment: DEMO_PAUSE=seconds between steps (default 1); DEMO_NO_BUILD=1 with SCOUT_SERVER_BIN
# and SCOUTLB_BIN to use binaries built elsewhere.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
pause=${DEMO_PAUSE:-1}

tmp=""
pids=()

# Stop every server this demo started, wait for them, remove the temp folder. Runs once.
cleanup() {
    local pid
    trap - INT TERM EXIT
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    pids=()
    if [[ -n "$tmp" ]]; then
        rm -rf "$tmp"
    fi
}
on_exit() {
    local status=$?
    cleanup
    exit "$status"
}
on_signal() {
    echo
    echo "Interrupted: stopping the servers and removing the temporary files."
    cleanup
    exit 130
}
trap on_exit EXIT
trap on_signal INT TERM

step=0
# A numbered step title.
title() {
    step=$((step + 1))
    sleep "$pause"
    echo
    echo "=== Step $step: $* ==="
}
# Plain-words narration, wrapped for a terminal.
say() {
    echo "$*" | fold -s -w 100
}
# Stop the demo: the story did not go as told.
fail() {
    echo
    echo "DEMO FAILED: $*" >&2
    exit 1
}

# ---------------------------------------------------------------------------------------------
if [[ "${DEMO_NO_BUILD:-}" == 1 ]]; then
    server_bin=${SCOUT_SERVER_BIN:?DEMO_NO_BUILD=1 needs SCOUT_SERVER_BIN}
    scoutlb_bin=${SCOUTLB_BIN:?DEMO_NO_BUILD=1 needs SCOUTLB_BIN}
else
    if ! command -v cargo >/dev/null; then
        fail "cargo is not installed; install Rust from https://rustup.rs and run this again"
    fi
    echo "Building the reference Scout Server and the scoutlb device agent (cargo build; the first time takes a few minutes)..."
    (cd "$repo" && cargo build --quiet -p scout-server -p scoutlb-cli)
    target=${CARGO_TARGET_DIR:-$repo/target}
    server_bin=$target/debug/scout-server
    scoutlb_bin=$target/debug/scoutlb
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/scoutlb-demo.XXXXXX")
db=$tmp/scout.sqlite
server_db=$db
mkdir -p "$tmp/device"
config=$tmp/device/config.json
state=$tmp/device/state.json

declare -A port pid_of

# start_server NAME PORT [ARGS...]: starts scout-server `scout-NAME` on 127.0.0.1:PORT (0 = any
# free port) on the database $server_db, with ARGS, and waits until it has registered there.
start_server() {
    local name=$1 want=$2 out=$tmp/server-$1.out line="" i
    shift 2
    : >"$out"
    "$server_bin" --db "$server_db" --listen "127.0.0.1:$want" --id "scout-$name" "$@" >"$out" 2>"$tmp/server-$name.log" &
    pid_of[$name]=$!
    pids+=("$!")
    for ((i = 0; i < 100; i++)); do
        line=$(head -n 1 "$out")
        [[ -n "$line" ]] && break
        kill -0 "${pid_of[$name]}" 2>/dev/null || break
        sleep 0.1
    done
    [[ "$line" == *"listening on http"*"://"* ]] || fail "server $name did not start: $(cat "$tmp/server-$name.log")"
    port[$name]=${line##*:}
}

# stop_server NAME: a clean stop (SIGTERM): the server leaves the list at once.
stop_server() {
    local name=$1
    kill -TERM "${pid_of[$name]}"
    wait "${pid_of[$name]}" 2>/dev/null || true
}

# write_config [BALANCER]: the device's configuration, with or without a ManagerLoadBalancer entry.
write_config() {
    local balancer=null
    [[ $# -gt 0 ]] && balancer="\"$1\""
    cat >"$config" <<EOF
{
  "servers": ["127.0.0.1:${port[a]}"],
  "manager_load_balancer": $balancer,
  "state_file": "$state",
  "connect_timeout_ms": 2000
}
EOF
}

# device ARGS...: run the device agent, show the command and its output, keep the output in $said.
said=""
device() {
    echo "\$ scoutlb $*"
    said=$("$scoutlb_bin" --config "$config" "$@" 2>&1) || {
        echo "$said" | sed 's/^/    /'
        fail "scoutlb $* failed"
    }
    echo "$said" | sed 's/^/    /'
}

# expect_connected NAME: the last device run connected to server NAME.
expect_connected() {
    local first
    first=$(head -n 1 <<<"$said")
    [[ "$first" == "connected to 127.0.0.1:${port[$1]} (scout-$1)" ]] ||
        fail "expected the device on server $1 (127.0.0.1:${port[$1]}), got: $first"
}

# ---------------------------------------------------------------------------------------------
title "three Scout Servers share one database"
for name in a b c; do
    start_server "$name" 0
done
say "Three Scout Servers run on this machine and share one SQLite database file. Each registers \
itself in the database and hands every device the list of all servers that are running:"
for name in a b c; do
    echo "    server $name: 127.0.0.1:${port[$name]}  (id scout-$name)"
done

title "first contact"
write_config
say "The device is set up with one address only: server A's. It connects and receives the list of \
every running server, which it keeps in its state file ($state)."
device connect
expect_connected a
grep -q ", 3 servers:" <<<"$said" || fail "the device did not receive all three servers"

title "the device's server stops: FailureLoadBalancing"
say "Server A is stopped, as for maintenance. It leaves the server list at once."
stop_server a
say "The device notices that its connection is lost. It tries its default server A again, then the \
next server of the list, B. B becomes its default server from now on."
device lost
expect_connected b
grep -q "not reachable first: 127.0.0.1:${port[a]}" <<<"$said" || fail "the device did not try A first"
device status

title "the device restarts"
say "The device is restarted (power cycle, agent update). It goes straight to its default server, B, \
without trying A first."
device connect
expect_connected b
if grep -q "not reachable first" <<<"$said"; then
    fail "the restarted device tried another server before its default"
fi

title "server A comes back"
start_server a "${port[a]}"
say "Server A is started again on its old address. It registers again and joins the end of the list \
(the list is in order of registration): B, C, A. Devices learn this at their next contact."

title "a ManagerLoadBalancer entry is set"
write_config "127.0.0.1:${port[c]}"
say "The administrator sets the ManagerLoadBalancer entry to server C's address, 127.0.0.1:${port[c]}, \
in the device's configuration. The entry is evaluated on every restart, before the default server:"
device candidates
say "On its next restart the device goes where the entry points: server C, which becomes its \
default server."
device connect
expect_connected c
grep -q "through the ManagerLoadBalancer" <<<"$said" || fail "the device did not come through the balancer"
grep -q ", 3 servers:" <<<"$said" || fail "the device did not see server A back in the list"

title "the balancer's target stops: FailureLoadBalancing takes over"
say "Server C, the one the ManagerLoadBalancer entry points to, is stopped."
stop_server c
say "The device loses its connection. It tries C again, then the next server of its list after C, \
which is A (the list is B, C, A and wraps around)."
device lost
expect_connected a
say "The device restarts once more. The ManagerLoadBalancer entry is evaluated again and tried \
first; C does not answer, so FailureLoadBalancing takes over and the device goes to its default \
server, A."
device connect
expect_connected a
grep -q "not reachable first: 127.0.0.1:${port[c]}" <<<"$said" || fail "the device did not try the balancer first"

title "a device set up the Scout way: TLS on port 22125"
say "A Scout device keeps its settings in INI files and the CA of its servers in \
/setup/cacerts/scoutsrv. Scout Servers serve TLS on port 22125. A second cluster, on a database of \
its own, gets a test CA and a certificate for 127.0.0.1 (scout-server tls-files):"
mkdir -p "$tmp/tls" "$tmp/scout-device/cacerts"
"$server_bin" tls-files "$tmp/tls" 127.0.0.1 localhost | sed "s|^$tmp/|    |"
cp "$tmp/tls/ca.pem" "$tmp/scout-device/cacerts/scout-ca.pem"
tls_port=22125
if (exec 3<>"/dev/tcp/127.0.0.1/$tls_port") 2>/dev/null; then
    say "(Port 22125 is taken on this machine: the demo's TLS server takes a free port instead.)"
    tls_port=0
fi
server_db=$tmp/scout-tls.sqlite
start_server d "$tls_port" --tls-cert "$tmp/tls/server.pem" --tls-key "$tmp/tls/server.key"
echo "    server d: https://127.0.0.1:${port[d]}  (id scout-d)"
ini=$tmp/scout-device/terminal.ini
printf '[Scout]\r\nServerList=127.0.0.1:%s\r\n[Security]\r\nTlsVerifyOption=3\r\n' "${port[d]}" >"$ini"
config=$tmp/scout-device/config.json
cat >"$config" <<EOF
{
  "scheme": "https",
  "ca_dir": "$tmp/scout-device/cacerts",
  "state_file": "$tmp/scout-device/state.json",
  "connect_timeout_ms": 2000
}
EOF
say "The device's terminal.ini names the server and sets TlsVerifyOption=3 (check the chain and \
the name); its JSON only says https and where the cacerts folder is:"
sed 's/^/    /' "$ini"
device --ini "$ini" connect
expect_connected d
say "A device whose cacerts folder holds another CA does not trust the server, and says why:"
mkdir "$tmp/other-ca"
"$server_bin" tls-files "$tmp/other-ca" >/dev/null
cp "$tmp/other-ca/ca.pem" "$tmp/scout-device/cacerts/scout-ca.pem"
echo "\$ scoutlb --ini $ini connect"
if said=$("$scoutlb_bin" --config "$config" --ini "$ini" connect 2>&1); then
    echo "$said" | sed 's/^/    /'
    fail "the device trusted a server signed by another CA"
fi
echo "$said" | sed 's/^/    /'
grep -q "TLS" <<<"$said" || fail "the refusal did not name TLS"

title "done"
say "The device followed the servers through every change, with no manual step, and the Scout-way \
device reached its TLS server only with the right CA. The servers are stopped and the temporary \
files removed."
