#!/usr/bin/env bash
# The hostile-input suite of the test command: every fuzz target for a few seconds on its
# committed corpus (a crash fails the suite), and the C ABI harness the same way. (The power-cut
# and strace tests are Rust tests of the testkit: they run under `cargo test`.)
#
#   bash tests/hostile/run.sh            (SCOUTLB_FUZZ_SECONDS=N to fuzz each target N s, default 5)
#
# The long fuzz run with fixed execution counts is fuzz/budget.sh, not part of this suite.
set -uo pipefail
source "$(dirname "$0")/../../fuzz/common.sh"
cd "$REPO_DIR" || exit 1
seconds=${SCOUTLB_FUZZ_SECONDS:-5}
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok: $*"; }
bad() { failed=$((failed + 1)); echo "FAILED: $*"; }

echo "== prerequisites (installed by tests/install-deps.sh)"
command -v clang >/dev/null && [ -f "$(clang -print-file-name=libclang_rt.fuzzer-x86_64.a)" ] ||
    bad "clang with its libFuzzer runtime is missing (run tests/install-deps.sh)"
need_cargo_fuzz || bad "cargo-fuzz $CARGO_FUZZ_VERSION is missing (run tests/install-deps.sh)"

echo "== fuzz targets, ${seconds} s each on the committed corpus"
if build_rust_targets; then
    for t in "${RUST_TARGETS[@]}"; do
        if line=$(run_target "$t" "$FUZZ_BIN/$t" -max_total_time="$seconds"); then
            ok "fuzz $line (target, executions, seconds)"
        else
            echo "$line"
            bad "fuzz target $t"
        fi
    done
else
    bad "cargo fuzz build"
fi

echo "== the C ABI harness (libFuzzer + ASan + UBSan) against the debug libscoutlb.a, ${seconds} s"
target_dir=$(cargo metadata --no-deps --format-version 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
if cargo build -p scoutlb-ffi --quiet && build_c_harness "$target_dir/debug/libscoutlb.a"; then
    if line=$(run_target c_abi "$C_HARNESS" -max_total_time="$seconds"); then
        ok "fuzz $line (target, executions, seconds)"
    else
        echo "$line"
        bad "C ABI harness"
    fi
else
    bad "building the C ABI harness"
fi

echo
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
