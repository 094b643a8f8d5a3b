#!/usr/bin/env bash
# The one test command: installs what it needs, then runs every suite (Rust, C, Python, end to end).
# Exits non-zero when any suite fails; the last line counts the suites.
set -uo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

install_start=$SECONDS
bash tests/install-deps.sh || { echo "installing the test dependencies failed"; exit 1; }
times=("install $((SECONDS - install_start)) s")
# One rule for missing prerequisites: under the test command, every one is a failure, never a skip.
export SCOUTLB_TEST_REQUIRE=1

passed=0
failed=0
failed_names=()
suite() {
    local name=$1
    shift
    echo
    echo "=== $name: $* ==="
    local log="target/suite-$name.log"
    local start=$SECONDS
    mkdir -p target
    if "$@" 2>&1 | tee "$log"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        failed_names+=("$name")
    fi
    local skipped
    skipped=$(grep -c "SKIPPED:" "$log" || true)
    [ "$skipped" = 0 ] || echo "--- $name: $skipped test(s) skipped (see SKIPPED lines above)"
    times+=("$name $((SECONDS - start)) s")
}

suite format cargo fmt --all --check
suite clippy cargo clippy --all-targets -- -D warnings
suite docs env RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --workspace --exclude scoutlb-python
# The binaries first: the end-to-end tests (tests/e2e) run them, and never build them themselves.
suite rust sh -c "cargo build --bins && cargo test"
suite c bash tests/c/run.sh
suite python bash python/run-tests.sh
suite demo bash tests/e2e/run.sh
suite cli-assets bash examples/cli/tests/assets.sh
suite hostile bash tests/hostile/run.sh
suite dhcp bash tests/dhcp/run.sh
suite packaging bash packaging/test.sh

echo
echo "time per step: ${times[*]/%/,} total $SECONDS s"
if [ "$failed" -gt 0 ]; then
    echo "failed suites: ${failed_names[*]}"
fi
echo "suites: $passed passed, $failed failed"
[ "$failed" = 0 ]
