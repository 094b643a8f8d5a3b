# Shared by fuzz/budget.sh and tests/hostile/run.sh: the target names, and how to build and run them.
# shellcheck shell=bash

FUZZ_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$FUZZ_DIR")
RUST_TARGETS=(server_list config state_file server_address client_update srv_order signed_list dhcp_lease scout_ini dns_answer)
source "$REPO_DIR/tests/tool-versions.sh"
FUZZ_BIN=$FUZZ_DIR/target/x86_64-unknown-linux-gnu/release
C_HARNESS=$FUZZ_DIR/target/c_abi

# cargo-fuzz at its pinned version, or a message saying how to install it.
need_cargo_fuzz() {
    cargo fuzz --version 2>/dev/null | grep -q " $CARGO_FUZZ_VERSION" && return 0
    echo "cargo-fuzz $CARGO_FUZZ_VERSION is missing: run tests/install-deps.sh" >&2
    return 1
}

# Build every Rust target once: no sanitizer (stable toolchain), with debug assertions.
build_rust_targets() {
    (cd "$FUZZ_DIR" && cargo fuzz build --sanitizer none --debug-assertions)
}

# Build libscoutlb.a (release, debug assertions) with libFuzzer's coverage counters, so that the C
# harness is guided by the Rust code behind the ABI too; prints the library's path. A build of its
# own (in fuzz/target/ffi-sancov): --target keeps the flags off the build scripts.
build_instrumented_ffi() {
    local dir=$FUZZ_DIR/target/ffi-sancov
    RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions" \
        cargo build --quiet -p scoutlb-ffi --release --target x86_64-unknown-linux-gnu --target-dir "$dir" \
        --manifest-path "$REPO_DIR/Cargo.toml" >&2 || return 1
    echo "$dir/x86_64-unknown-linux-gnu/release/libscoutlb.a"
}

# Build the C harness against a libscoutlb.a ($1) with libFuzzer, ASan and UBSan.
build_c_harness() {
    clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Wall -Wextra -Werror \
        -I"$REPO_DIR/include" "$FUZZ_DIR/c/harness.c" "$1" -lpthread -ldl -lm -o "$C_HARNESS"
}

# Run one fuzz binary ($1 = name, $2 = binary) on a scratch copy of its corpus with the libFuzzer
# options that follow; prints "name executions seconds" on success, the crash report otherwise.
run_target() {
    local name=$1 bin=$2
    shift 2
    local work log start end
    work=$(mktemp -d "/tmp/scoutlb-fuzz-$name.XXXXXX")
    log=$work/log
    start=$(date +%s.%N)
    # New inputs go to the scratch folder (first), the committed seeds are only read (second).
    "$bin" "$work" "$FUZZ_DIR/corpus/$name" -artifact_prefix="$work/" -print_final_stats=1 "$@" >"$log" 2>&1
    local rc=$?
    end=$(date +%s.%N)
    local runs
    runs=$(sed -n 's/^Done \([0-9]*\) runs in.*/\1/p' "$log")
    if [ $rc -ne 0 ] || [ -z "$runs" ]; then
        tail -40 "$log"
        ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* 2>/dev/null |
            while read -r f; do echo "reproducer kept: $f"; done
        echo "FAILED: fuzz target $name (exit $rc)"
        return 1
    fi
    awk -v n="$name" -v r="$runs" -v s="$start" -v e="$end" 'BEGIN { printf "%s %s %.1f\n", n, r, e - s }'
    rm -rf "$work"
}
