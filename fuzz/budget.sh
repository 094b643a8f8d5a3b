#!/usr/bin/env bash
# The fuzz budget: every target for a fixed number of executions, 0 crashes allowed.
#
#   bash fuzz/budget.sh [RUST_RUNS [C_RUNS]]     (defaults: 10000000 per Rust target, 1000000 for C)
#
# Builds the cargo-fuzz targets (release, debug assertions, no sanitizer) and the C harness
# (clang, libFuzzer + ASan + UBSan) against the release libscoutlb.a, runs them one after the
# other on one core, and prints executions, seconds and executions per second for each. A crash
# stops the script with the libFuzzer report and the path of the reproducer. Not part of CI (it
# takes about an hour on the 2-core development machine); CI runs each target for seconds.
set -uo pipefail
source "$(dirname "$0")/common.sh"
rust_runs=${1:-10000000}
c_runs=${2:-1000000}
cd "$REPO_DIR" || exit 1

need_cargo_fuzz || exit 1
build_rust_targets || { echo "FAILED: cargo fuzz build"; exit 1; }
cargo build -p scoutlb-ffi --release --quiet || { echo "FAILED: cargo build -p scoutlb-ffi --release"; exit 1; }
target_dir=$(cargo metadata --no-deps --format-version 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
build_c_harness "$target_dir/release/libscoutlb.a" || { echo "FAILED: building the C harness"; exit 1; }

results=()
failed=0
for t in "${RUST_TARGETS[@]}"; do
    echo "--- $t: $rust_runs executions"
    line=$(run_target "$t" "$FUZZ_BIN/$t" -runs="$rust_runs") || { echo "$line"; failed=1; break; }
    echo "$line"
    results+=("$line")
done
if [ $failed = 0 ]; then
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
