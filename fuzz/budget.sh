#!/usr/bin/env bash
# The fuzz budget: every target for a fixed number of executions, 0 crashes allowed.
#
#   bash fuzz/budget.sh [RUST_RUNS [C_RUNS]]     (defaults: 10000000 per Rust target, 1000000 for C)
#   FUZZ_TARGETS="config c_abi" bash fuzz/budget.sh     (only these targets)
#
# Builds the cargo-fuzz targets (release, debug assertions, no sanitizer) and the C harness
# (clang, libFuzzer + ASan + UBSan) against a release libscoutlb.a built with coverage counters
# (so the fuzzer is guided inside the Rust code too), runs them one after the other on one core, and prints executions, seconds and executions per second for each. A crash
# stops the script with the libFuzzer report and the path of the reproducer. Not part of CI (it
# takes about 90 minutes on the 2-core development machine); CI runs each target for seconds.
set -uo pipefail
source "$(dirname "$0")/common.sh"
rust_runs=${1:-10000000}
c_runs=${2:-1000000}
cd "$REPO_DIR" || exit 1

selected=${FUZZ_TARGETS:-${RUST_TARGETS[*]} c_abi}
chosen() { [[ " $selected " == *" $1 "* ]]; }

need_cargo_fuzz || exit 1
build_rust_targets || { echo "FAILED: cargo fuzz build"; exit 1; }
if chosen c_abi; then
    lib=$(build_instrumented_ffi) || { echo "FAILED: building the instrumented libscoutlb.a"; exit 1; }
    build_c_harness "$lib" || { echo "FAILED: building the C harness"; exit 1; }
fi

results=()
failed=0
for t in "${RUST_TARGETS[@]}"; do
    chosen "$t" || continue
    echo "--- $t: $rust_runs executions"
    line=$(run_target "$t" "$FUZZ_BIN/$t" -runs="$rust_runs") || { echo "$line"; failed=1; break; }
    echo "$line"
    results+=("$line")
done
if [ $failed = 0 ] && chosen c_abi; then
    echo "--- c_abi: $c_runs executions"
    if line=$(run_target c_abi "$C_HARNESS" -runs="$c_runs"); then
        echo "$line"
        results+=("$line")
    else
        echo "$line"
        failed=1
    fi
fi

echo
printf '%-16s %14s %10s %12s\n' target executions seconds "exec/s"
for r in "${results[@]}"; do
    awk '{ printf "%-16s %14s %10s %12.0f\n", $1, $2, $3, $2 / $3 }' <<<"$r"
done
[ $failed = 0 ] && echo "crashes: 0" || echo "crashes: 1 (see above)"
exit $failed
