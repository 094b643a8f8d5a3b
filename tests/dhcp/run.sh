#!/usr/bin/env bash
# The DHCP suite (docs/behaviour.md, "First contact from DHCP"): a real DHCP server (dnsmasq,
# option 222 set) and real DHCP clients (ISC dhclient, dhcpcd) in two network namespaces joined by
# a veth pair; the `scoutlb` command in the device's namespace reads the client's lease and
# reaches the reference scout-server that option 222 names. A lease without the option, and a
# corrupt one, fall back to `ScoutSrv` (dnsmasq's DNS in the server namespace).
#
#   sudo bash tests/dhcp/run.sh          (root: it creates namespaces; needs dnsmasq, dhclient, dhcpcd)
#
# Ends with `== dhcp: N passed, N failed`. Under SCOUTLB_TEST_REQUIRE=1 a missing prerequisite is
# a failure; otherwise the suite is skipped with a note.
set -uo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo" || exit 1
source "$repo/tests/suite.sh"

missing=()
[ "$(id -u)" = 0 ] || missing+=("root (network namespaces)")
for tool in ip dnsmasq dhclient dhcpcd cargo; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "${SCOUTLB_TEST_REQUIRE:-0}" = 1 ]; then
        bad "missing: ${missing[*]} (run tests/install-deps.sh, as root)"
        finish_suite dhcp
        exit 1
    fi
    echo "SKIPPED: missing ${missing[*]} (run tests/install-deps.sh; SCOUTLB_TEST_REQUIRE=1 makes this a failure)"
    exit 0
fi
echo "Building scout-server and scoutlb..."
if ! cargo build --quiet -p scout-server -p scoutlb-cli; then
    bad "the build failed"
    finish_suite dhcp
    exit 1
fi
target=${CARGO_TARGET_DIR:-$repo/target}
scoutlb=$target/debug/scoutlb
scout_server=$target/debug/scout-server

# Names unique to this run, so two runs (or a leftover) never meet.
id=$$
srv=slb-dhcp-s-$id
dev=slb-dhcp-d-$id
ifs=ds$((id % 100000))
ifd=dd$((id % 100000))
net=10.222.$((id % 250 + 1))
work=$(mktemp -d /tmp/scoutlb-dhcp.XXXXXX)
pids=()

cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    for p in "$work"/*.pid; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null; done
    sleep 0.2
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
    ip netns pids "$dev" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
    ip netns pids "$srv" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
    ip netns del "$dev" 2>/dev/null
    ip netns del "$srv" 2>/dev/null
    # dhcpcd keeps its lease in a folder of its own, named after the interface.
    rm -f "/var/lib/dhcpcd/$ifd.lease" "/var/lib/dhcpcd/$ifd.lease6"
    [ -n "${SCOUTLB_DHCP_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step "network namespaces $srv (DHCP, DNS, servers) and $dev (the device), veth $ifs-$ifd, $net.0/24"
ip netns add "$srv" && ip netns add "$dev" &&
    ip link add "$ifs" type veth peer name "$ifd" &&
    ip link set "$ifs" netns "$srv" && ip link set "$ifd" netns "$dev" &&
    ip -n "$srv" link set lo up && ip -n "$dev" link set lo up &&
    ip -n "$srv" addr add "$net.1/24" dev "$ifs" &&
    ip -n "$srv" addr add "$net.2/24" dev "$ifs" &&
    ip -n "$srv" addr add "$net.3/24" dev "$ifs" &&
    ip -n "$srv" addr add "$net.9/24" dev "$ifs" &&
    ip -n "$dev" addr add "$net.200/24" dev "$ifd" &&
    ip -n "$srv" link set "$ifs" up && ip -n "$dev" link set "$ifd" up
check "namespaces and veth pair" [ $? = 0 ]

# The device keeps a fixed address of its own: dhclient runs with the hook as its only script, which
# configures nothing, and the device must still reach the servers after each lease.

# Two reference servers: $net.2 (named by option 222) and $net.3 (ScoutSrv); $net.9 has none (refused).
for n in 2 3; do
    ip netns exec "$srv" "$scout_server" --db "$work/db$n.sqlite" --listen "$net.$n:22123" >"$work/server$n.log" 2>&1 &
    pids+=($!)
done

# dnsmasq: DHCP on the veth, DNS for ScoutSrv.scout.test; $1 = extra options (option 222 or none).
start_dnsmasq() {
    [ -f "$work/dnsmasq.pid" ] && kill "$(cat "$work/dnsmasq.pid")" 2>/dev/null && sleep 0.3
    rm -f "$work/dnsmasq.leases"
    ip netns exec "$srv" dnsmasq --conf-file=/dev/null --no-resolv --no-hosts --interface="$ifs" --bind-interfaces \
        --listen-address="$net.1" --host-record="ScoutSrv.scout.test,$net.3" \
        --dhcp-range="$net.50,$net.99,1h" --dhcp-leasefile="$work/dnsmasq.leases" \
        --pid-file="$work/dnsmasq.pid" --log-facility="$work/dnsmasq.log" --log-dhcp "$@"
}

# The device's configuration: no servers, DNS through the server namespace's dnsmasq.
device_config() {
    printf '{"nameservers": ["%s"], "search_domains": ["scout.test"], "connect_timeout_ms": 2000, "dhcp_leases": %s}\n' \
        "$net.1" "$1"
}

# connect_via NAME LEASES EXPECT: the scoutlb command in the device namespace; its JSON must name EXPECT.
connect_via() {
    local out=$work/$1.out
    device_config "$2" >"$work/$1.json"
    ip netns exec "$dev" timeout 30 "$scoutlb" --config "$work/$1.json" -v connect --json >"$out" 2>"$out.err"
    local status=$?
    if [ $status = 0 ] && grep -q "\"server\":{\"address\":\"$3\"" "$out"; then
        ok "$1: connected to $3"
    else
        bad "$1: expected a connection to $3 (exit $status)"
        sed 's/^/    /' "$out" "$out.err" | head -30
    fi
}

# wait_servers: both reference servers answer (bounded).
wait_servers() {
    local i n
    for ((i = 0; i < 100; i++)); do
        n=0
        for s in 2 3; do
            ip netns exec "$srv" bash -c "exec 3<>/dev/tcp/$net.$s/22123" 2>/dev/null && n=$((n + 1))
        done
        [ $n = 2 ] && return 0
        sleep 0.1
    done
    return 1
}
check "reference servers on $net.2 and $net.3" wait_servers

# The option as an admin writes it: a dead server first, the live one, an OU with a space.
option222="222,$net.9:22123, $net.2;ou=Berlin/Floor 2"

step "ISC dhclient, option 222 requested (dhclient.conf), lease read by scoutlb"
start_dnsmasq --dhcp-option="$option222"
check "dnsmasq started" [ $? = 0 ]
cat >"$work/dhclient.conf" <<CONF
option scout-servers code 222 = text;
also request scout-servers;
CONF
# dhclient-script's stand-in: the shipped hook, writing its file into $work.
cat >"$work/dhclient-script" <<SCRIPT
#!/bin/sh
SCOUTLB_DHCP_HOOK_FILE=$work/hook-dhclient
. $repo/packaging/dhcp/scoutlb-dhcp-hook
SCRIPT
chmod +x "$work/dhclient-script"
run_dhclient() { # $1 = lease file
    : >"$1"
    ip netns exec "$dev" timeout 30 dhclient -1 -4 -cf "$work/dhclient.conf" -lf "$1" -pf "$work/dhclient.pid" \
        -sf "$work/dhclient-script" "$ifd" >"$work/dhclient.log" 2>&1
    local status=$?
    ip netns exec "$dev" dhclient -x -pf "$work/dhclient.pid" -cf "$work/dhclient.conf" -lf "$1" >/dev/null 2>&1
    # Stopping dhclient removes the interface's addresses: the fixed one comes back.
    ip -n "$dev" addr replace "$net.200/24" dev "$ifd"
    return $status
}
check "dhclient got a lease" run_dhclient "$work/dhclient.leases"
check "the lease holds option 222" grep -q 'option scout-servers "' "$work/dhclient.leases"
connect_via dhclient-lease "[\"$work/dhclient.leases\"]" "$net.2:22123"
check "the refused server named first by the option was tried first" grep -q "$net.9:22123" "$work/dhclient-lease.out"
check "the OU is reported" grep -q 'destination OU Berlin/Floor 2' "$work/dhclient-lease.out.err"
ip netns exec "$dev" "$scoutlb" --config "$work/dhclient-lease.json" --json status >"$work/status.out" 2>&1
check "status shows the lease" grep -q "\"lease\":\"$work/dhclient.leases\"" "$work/status.out"
check "status shows the OU" grep -q '"ou":"Berlin/Floor 2"' "$work/status.out"

step "the hook script's file (written by dhclient-script through the shipped hook)"
check "the hook wrote its file" grep -q "$net.2" "$work/hook-dhclient"
connect_via dhclient-hook "[\"$work/hook-dhclient\"]" "$net.2:22123"

step "dhcpcd (binary lease), option 222 requested (dhcpcd.conf)"
cat >"$work/dhcpcd.conf" <<CONF
define 222 string scout_servers
option scout_servers
nohook resolv.conf, hostname, ntp-common.conf, chrony.conf, timesyncd.conf, openntpd.conf
CONF
cat >"$work/dhcpcd-script" <<SCRIPT
#!/bin/sh
SCOUTLB_DHCP_HOOK_FILE=$work/hook-dhcpcd
. $repo/packaging/dhcp/scoutlb-dhcp-hook
SCRIPT
chmod +x "$work/dhcpcd-script"
run_dhcpcd() {
    ip netns exec "$dev" timeout 40 dhcpcd -4 -1 -B -t 30 -f "$work/dhcpcd.conf" -c "$work/dhcpcd-script" "$ifd" \
        >"$work/dhcpcd.log" 2>&1
}
check "dhcpcd got a lease" run_dhcpcd
check "dhcpcd's lease file is there" [ -s "/var/lib/dhcpcd/$ifd.lease" ]
cp "/var/lib/dhcpcd/$ifd.lease" "$work/dhcpcd.lease" 2>/dev/null
connect_via dhcpcd-lease "[\"$work/dhcpcd.lease\"]" "$net.2:22123"
check "dhcpcd's hook wrote its file" grep -q "$net.2" "$work/hook-dhcpcd"
connect_via dhcpcd-hook "[\"$work/hook-dhcpcd\"]" "$net.2:22123"
ip netns exec "$dev" dhcpcd -4 -x -f "$work/dhcpcd.conf" "$ifd" >/dev/null 2>&1
ip -n "$dev" addr replace "$net.200/24" dev "$ifd"
rm -f "/var/lib/dhcpcd/$ifd.lease"

step "a lease without option 222 falls back to ScoutSrv"
start_dnsmasq
check "dnsmasq restarted without option 222" [ $? = 0 ]
check "dhclient got a lease without the option" run_dhclient "$work/plain.leases"
check "that lease has no option 222" bash -c "! grep -q scout-servers '$work/plain.leases'"
connect_via plain-lease "[\"$work/plain.leases\"]" "$net.3:22123"
check "the hook removed its file for a lease without the option" [ ! -e "$work/hook-dhclient" ]
check "the fallback is reported" grep -q 'no DHCP option 222, first contact through ScoutSrv' "$work/plain-lease.out.err"

step "a corrupt lease is reported, and the fallback to ScoutSrv still happens"
head -c 300 "$work/dhcpcd.lease" >"$work/cut.lease"
connect_via cut-lease "[\"$work/cut.lease\"]" "$net.3:22123"
check "the corrupt lease is reported" grep -q "DHCP lease $work/cut.lease: not a readable dhcpcd lease" "$work/cut-lease.out.err"

finish_suite dhcp
