#!/usr/bin/env bash
# The demo suite: the one-command demo run in full, and stopped by Ctrl-C and by SIGTERM in the
# middle, leaving no process and no temporary folder behind. (The CLI tests and the cluster
# scenarios on SQLite and PostgreSQL are Rust tests: they run under `cargo test`.)
#
#   bash tests/e2e/run.sh
#
# Builds scout-server and scoutlb in the shared target folder, runs the demo three times, and ends
# with `== demo: N passed, N failed`. Exit status: 0 when everything passed, 1 otherwise.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo" || exit 1
source "$repo/tests/suite.sh"

# ---------------------------------------------------------------------------------------------
# Prerequisites.
if ! command -v cargo >/dev/null; then
    bad "cargo is not installed (install Rust from https://rustup.rs)"
    finish_suite demo
    exit 1
fi
echo "Building scout-server and scoutlb..."
if ! cargo build --quiet -p scout-server -p scoutlb-cli; then
    bad "the build failed"
    finish_suite demo
    exit 1
fi
target=${CARGO_TARGET_DIR:-$repo/target}
export SCOUT_SERVER_BIN=$target/debug/scout-server SCOUTLB_BIN=$target/debug/scoutlb

# ---------------------------------------------------------------------------------------------
# The demo. Each run gets a TMPDIR of its own, so that its processes are found by that path.
work=$(mktemp -d /tmp/scoutlb-e2e-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT

# Processes whose command line mentions $1 (read with builtins only, so the search finds no helper).
survivors() {
    local f pid args found=""
    for f in /proc/[0-9]*/cmdline; do
        args=()
        mapfile -d '' args <"$f" 2>/dev/null || continue
        if [[ "${args[*]}" == *"$1"* ]]; then
            pid=${f#/proc/}
            found+="${pid%/cmdline} "
        fi
    done
    echo "$found"
}

# run_demo NAME: starts the demo in the background, in its own process group (job control), with
# TMPDIR=$work/NAME; sets demo_pid and demo_out.
set -m
run_demo() {
    local dir=$work/$1
    mkdir -p "$dir"
    demo_out=$dir.out
    TMPDIR=$dir DEMO_PAUSE=${2:-0} DEMO_NO_BUILD=1 bash examples/demo/run.sh >"$demo_out" 2>&1 &
    demo_pid=$!
}

# wait_exit PID SECONDS: waits for the job; its status in demo_status (124 after the time limit).
wait_exit() {
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        if ! kill -0 "$1" 2>/dev/null; then
            wait "$1"
            demo_status=$?
            return
        fi
        sleep 0.1
    done
    kill -KILL -- -"$1" 2>/dev/null
    wait "$1"
    demo_status=124
}

# wait_for_text FILE TEXT SECONDS: true once FILE contains TEXT.
wait_for_text() {
    local i
    for ((i = 0; i < $3 * 10; i++)); do
        grep -qF "$2" "$1" && return 0
        sleep 0.1
    done
    return 1
}

# check_clean NAME: no process of the run is left and its temp folder is gone.
check_clean() {
    local dir=$work/$1 left
    left=$(survivors "$dir")
    if [[ -n "$left" ]]; then
        bad "demo ($1): processes left behind: $left"
        for pid in $left; do kill -KILL "$pid" 2>/dev/null; done
        return
    fi
    if compgen -G "$dir/scoutlb-demo.*" >/dev/null; then
        bad "demo ($1): its temporary folder was not removed"
        return
    fi
    ok "demo ($1): no process left behind, temporary folder removed"
}

echo
echo "--- demo: full run"
run_demo full
wait_exit "$demo_pid" 120
if [[ $demo_status -eq 0 ]] && grep -q "=== Step 9: done ===" "$demo_out" && ! grep -q "DEMO FAILED" "$demo_out"; then
    ok "demo (full): exits 0 after every step"
else
    bad "demo (full): exit status $demo_status"
    cat "$demo_out"
fi
check_clean full

for sig in INT TERM; do
    name=sig$sig
    echo "--- demo: SIG$sig in the middle"
    run_demo "$name" 1
    if wait_for_text "$demo_out" "=== Step 3" 60; then
        if [[ $sig == INT ]]; then
            kill -INT -- -"$demo_pid" # Ctrl-C: the whole foreground process group
        else
            kill -TERM "$demo_pid" # a signal to the script alone
        fi
        wait_exit "$demo_pid" 30
        if [[ $demo_status -eq 130 ]] && grep -q "^Interrupted" "$demo_out"; then
            ok "demo ($name): stops with status 130"
        else
            bad "demo ($name): exit status $demo_status"
            cat "$demo_out"
        fi
    else
        bad "demo ($name): never reached step 3"
        cat "$demo_out"
        kill -KILL -- -"$demo_pid" 2>/dev/null
        wait "$demo_pid" 2>/dev/null
    fi
    check_clean "$name"
done
set +m

echo
finish_suite demo
