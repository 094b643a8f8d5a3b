#!/usr/bin/env bash
# The soak bench: one process, one client, a connect / lost / reconnect cycle against loopback
# servers that die and come back every 1.5 s (one of five up at a time, the others refusing, silent
# with a full backlog, or hung after accept), from Rust, through the C ABI and through the Python
# wheel, one after the other.
# Prints resident memory, threads and open descriptors after the warm-up and at the end.
#
#   bash tests/soak/run.sh        (SOAK_WARMUP_S=20 SOAK_RUN_S=100 SOAK_COOLDOWN_S=5 by default)
#
# Targets: resident memory grows by less than 1 MB after the warm-up; threads and descriptors are
# back to their baseline once the last attempts have timed out. Exit 1 when one is missed.
# About 7 minutes of run (3 x ~2 min) after the release builds; not part of CI.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 1
warmup=${SOAK_WARMUP_S:-20}
run=${SOAK_RUN_S:-100}
cooldown=${SOAK_COOLDOWN_S:-5}
servers=5
period_ms=1500

target=$(cargo metadata --no-deps --format-version 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
work=$(mktemp -d /tmp/scoutlb-soak.XXXXXX)
trap 'rm -rf "$work"' EXIT

echo "== release builds: the Rust driver, the fleet, libscoutlb, the C driver, the wheel"
cargo build --release --quiet -p scoutlb-testkit --example soak --bin soak-fleet || exit 1
cargo build --release --quiet -p scoutlb-ffi || exit 1
gcc -std=c99 -O2 -Wall -Wextra -Werror -I"$root/include" tests/soak/soak.c "$target/release/libscoutlb.a" \
    -lpthread -ldl -lm -o "$work/soak_c" || exit 1
# maturin comes from the Python suite's tools (python/venvs.sh, made by tests/install-deps.sh); the
# release wheel goes into a virtual environment of its own.
source "$root/python/venvs.sh"
venv_ready "$VENV" "$REQUIREMENTS" || { echo "no ${VENV#"$root"/}: run tests/install-deps.sh" >&2; exit 1; }
venv=$work/venv
python3 -m venv "$venv" || exit 1
"$VENV/bin/maturin" build --quiet --release -m python/Cargo.toml --out "$work/wheels" --interpreter "$venv/bin/python" || exit 1
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --no-index "$work"/wheels/scoutlb-*.whl || exit 1

rows=()
missed=0
# Run one driver ($1 = surface name, the rest = its command) against a fresh fleet.
soak() {
    local name=$1
    shift
    local total=$((warmup + run + cooldown + 30))
    coproc FLEET { "$target/release/soak-fleet" "$servers" "$period_ms" "$total"; }
    local line ports
    read -r line <&"${FLEET[0]}"
    ports=${line#ports }
    python3 - "$work/config-$name.json" "$work/state-$name.json" $ports <<'PY'
import json, sys
path, state, ports = sys.argv[1], sys.argv[2], sys.argv[3:]
json.dump({"servers": [f"127.0.0.1:{p}" for p in ports], "state_file": state,
           "connect_timeout_ms": 500, "attempt_delay_ms": 100, "deadline_ms": 4000}, open(path, "w"))
PY
    echo "== $name: ${warmup} s warm-up, ${run} s of cycles, ${cooldown} s cool-down; servers on ports $ports"
    local out
    out=$("$@" "$work/config-$name.json" "$warmup" "$run" "$cooldown")
    echo "$out"
    exec {FLEET[1]}>&-
    wait "$FLEET_PID" 2>/dev/null
    local row
    row=$(python3 - "$name" "$out" <<'PY'
import sys
name, out = sys.argv[1], sys.argv[2]
lines = {l.split()[0]: dict(kv.split("=") for kv in l.split()[1:]) for l in out.splitlines() if l.strip()}
b, e = lines["baseline"], lines["end"]
growth = int(e["rss_kb"]) - int(b["rss_kb"])
met = growth < 1024 and int(e["threads"]) <= int(b["threads"]) and int(e["fds"]) <= int(b["fds"])
print(f"{name}|{b['rss_kb']}|{e['rss_kb']}|{growth:+d}|{b['threads']} -> {e['threads']}|{b['fds']} -> {e['fds']}"
      f"|{e['cycles']} ({e['ok']} ok, {e['failed']} all failed; {e['attempts_failed']} failed attempts)|{'met' if met else 'MISSED'}")
PY
)
    rows+=("$row")
    [[ $row == *"|met" ]] || missed=1
}

soak rust "$target/release/examples/soak"
soak c "$work/soak_c"
soak python "$venv/bin/python" tests/soak/soak.py

echo
echo "| surface | RSS after warm-up (KiB) | RSS at end (KiB) | growth (KiB) | threads | open fds | cycles | targets |"
echo "|---|---|---|---|---|---|---|---|"
for r in "${rows[@]}"; do echo "| ${r//|/ | } |"; done
exit $missed
