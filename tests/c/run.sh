#!/usr/bin/env bash
# The C ABI suite: header regeneration check, C tests by gcc and clang, the header as C++17,
# AddressSanitizer + UndefinedBehaviorSanitizer, Valgrind, the install + pkg-config check, and the
# C++ API suite (tests/cpp/run.sh: scoutlb.hpp, the C++ agent, CMake).
# Usage: tests/c/run.sh [--bench]    (--bench: also the release benchmark, C against Rust)
# Needs what tests/install-deps.sh installs. Its Rust unit tests run under `cargo test`.
set -uo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
bench=0
[ "${1:-}" = "--bench" ] && bench=1
STRICT=(-std=c99 -Wall -Wextra -Wpedantic -Werror)
source "$root/tests/suite.sh"

# ---- prerequisites (installed by tests/install-deps.sh; this suite installs nothing) ------------
step "prerequisites"
missing=()
for tool in gcc g++ clang valgrind pkg-config readelf make python3 cbindgen; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
command -v pkg-config >/dev/null 2>&1 && ! pkg-config --exists glib-2.0 && missing+=("GLib (libglib2.0-dev)")
if command -v clang >/dev/null 2>&1 && [ ! -f "$(clang -print-file-name=libclang_rt.asan-x86_64.a)" ]; then
    missing+=("clang's sanitizer runtime")
fi
if [ ${#missing[@]} -gt 0 ]; then
    echo "missing: ${missing[*]} (run tests/install-deps.sh)"
    echo "0 passed, 1 failed"
    exit 1
fi

metadata=$(cargo metadata --no-deps --format-version 1)
target=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])' <<<"$metadata")
version=$(python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "scoutlb-ffi"))' <<<"$metadata")
build=$target/c-tests
rm -rf "$build"
mkdir -p "$build/lib"
tmp=$(mktemp -d /tmp/scoutlb-c-suite.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
vectors=$root/tests/vectors/failover_order.json
# The C tests built and run like the vector tests (argument: tests/vectors): gcc, clang, ASan+UBSan, Valgrind.
VECTOR_TESTS=(test_startup test_signed test_event_loop test_glib_loop test_rebalance)
# What a test of that list needs beyond testlib: test_glib_loop drives calls with the GSource of
# examples/c/scoutlb_glib.c on a GLib main loop.
extras_of() {
    case $1 in
    test_glib_loop) echo "-I$root/examples/c examples/c/scoutlb_glib.c $(pkg-config --cflags --libs glib-2.0)" ;;
    esac
}

# ---- Rust side -----------------------------------------------------------------------------------
step "build scoutlb-ffi (debug)"
if ! cargo build -p scoutlb-ffi --quiet; then
    bad "cargo build -p scoutlb-ffi"
    echo "0 passed, 1 failed"
    exit 1
fi
ok "cargo build -p scoutlb-ffi"
lib_a=$target/debug/libscoutlb.a
lib_so=$target/debug/libscoutlb.so

step "header: regenerate with the pinned cbindgen and compare"
if ffi/gen-header.sh "$tmp/scoutlb.h" && diff -u include/scoutlb.h "$tmp/scoutlb.h"; then
    ok "include/scoutlb.h is up to date"
else
    bad "include/scoutlb.h differs from the regenerated header (run ffi/gen-header.sh and commit)"
fi
IFS=. read -r major minor patch <<<"${version%%[-+]*}"
if grep -qx "#define SCOUTLB_VERSION \"$version\"" include/scoutlb.h &&
    grep -qx "#define SCOUTLB_VERSION_MAJOR $major" include/scoutlb.h &&
    grep -qx "#define SCOUTLB_VERSION_MINOR $minor" include/scoutlb.h &&
    grep -qx "#define SCOUTLB_VERSION_PATCH $patch" include/scoutlb.h; then
    ok "SCOUTLB_VERSION_* macros match Cargo.toml ($version)"
else
    bad "SCOUTLB_VERSION_* macros differ from Cargo.toml ($version)"
fi

# ---- C tests -------------------------------------------------------------------------------------
INC=(-I"$root/include" -I"$root/tests/c")
DEFS=(-DEXPECTED_VERSION="\"$version\"")
STATIC_LIBS=("$lib_a" -lpthread -ldl -lm)
# Run a C test binary: it must exit 0 and print "N passed, 0 failed".
run_c() {
    local name=$1
    shift
    local log=$build/$name.log
    if "$@" >"$log" 2>&1 && grep -Eq '^[0-9]+ passed, 0 failed$' "$log"; then
        ok "$name: $(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log")"
    else
        cat "$log"
        bad "$name"
    fi
}

for cc in gcc clang; do
    step "C tests built by $cc ($cc -std=c99 -Wall -Wextra -Wpedantic -Werror)"
    if $cc "${STRICT[@]}" -g "${INC[@]}" "${DEFS[@]}" tests/c/test_api.c tests/c/testlib.c "${STATIC_LIBS[@]}" \
        -o "$build/test_api_$cc"; then
        ok "$cc compiles test_api.c"
        run_c "test_api ($cc)" "$build/test_api_$cc" "$vectors"
    else
        bad "$cc compiles test_api.c"
    fi
    if $cc "${STRICT[@]}" -g "${INC[@]}" tests/c/test_cancel.c tests/c/testlib.c "${STATIC_LIBS[@]}" \
        -o "$build/test_cancel_$cc"; then
        run_c "test_cancel ($cc)" "$build/test_cancel_$cc"
    else
        bad "$cc compiles test_cancel.c"
    fi
    for t in "${VECTOR_TESTS[@]}"; do
        if $cc "${STRICT[@]}" -g "${INC[@]}" "tests/c/$t.c" tests/c/testlib.c $(extras_of "$t") "${STATIC_LIBS[@]}" \
            -o "$build/${t}_$cc"; then
            run_c "$t ($cc)" "$build/${t}_$cc" "$root/tests/vectors"
        else
            bad "$cc compiles $t.c"
        fi
    done
done

step "the header as C++17 (g++ and clang++ -std=c++17 -Wall -Wextra -Wpedantic -Werror)"
for cxx in g++ clang++; do
    command -v $cxx >/dev/null || continue
    if $cxx -std=c++17 -Wall -Wextra -Wpedantic -Werror -I"$root/include" tests/c/header_cpp.cpp "$lib_a" \
        -lpthread -ldl -o "$build/header_cpp_$cxx"; then
        check "$cxx -std=c++17 compiles and runs header_cpp.cpp" "$build/header_cpp_$cxx"
    else
        bad "$cxx -std=c++17 compiles header_cpp.cpp"
    fi
done

SAN=(-g -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
for cc in gcc clang; do
    step "AddressSanitizer + UndefinedBehaviorSanitizer ($cc)"
    exe=$build/test_api_asan_$cc
    if ! $cc "${STRICT[@]}" "${SAN[@]}" -DEXPECT_ASAN "${INC[@]}" "${DEFS[@]}" tests/c/test_api.c tests/c/testlib.c \
        "${STATIC_LIBS[@]}" -o "$exe"; then
        bad "$cc builds the sanitizer test"
        continue
    fi
    # Proof that the sanitizers are linked: their runtime symbols, and a deliberate overflow caught.
    symbols=$(nm "$exe")
    if grep -q '__asan_init' <<<"$symbols" && grep -q '__ubsan_handle' <<<"$symbols"; then
        ok "$cc: ASan and UBSan runtimes are linked (nm)"
    else
        bad "$cc: sanitizer runtime symbols missing"
    fi
    if $cc "${STRICT[@]}" "${SAN[@]}" "${INC[@]}" tests/c/asan_canary.c "${STATIC_LIBS[@]}" -o "$build/canary_$cc" &&
        ! "$build/canary_$cc" >"$build/canary_$cc.log" 2>&1 && grep -q 'heap-buffer-overflow' "$build/canary_$cc.log"; then
        ok "$cc: ASan stops a deliberate heap-buffer-overflow"
    else
        bad "$cc: ASan did not catch the deliberate overflow"
    fi
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        run_c "test_api under ASan+UBSan ($cc)" "$exe" "$vectors"
    if $cc "${STRICT[@]}" "${SAN[@]}" "${INC[@]}" tests/c/test_cancel.c tests/c/testlib.c "${STATIC_LIBS[@]}" \
        -o "$build/test_cancel_asan_$cc"; then
        ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
            run_c "test_cancel under ASan+UBSan ($cc)" "$build/test_cancel_asan_$cc"
    else
        bad "$cc builds the sanitizer test_cancel"
    fi
    for t in "${VECTOR_TESTS[@]}"; do
        if $cc "${STRICT[@]}" "${SAN[@]}" "${INC[@]}" "tests/c/$t.c" tests/c/testlib.c $(extras_of "$t") "${STATIC_LIBS[@]}" \
            -o "$build/${t}_asan_$cc"; then
            ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
                run_c "$t under ASan+UBSan ($cc)" "$build/${t}_asan_$cc" "$root/tests/vectors"
        else
            bad "$cc builds the sanitizer $t"
        fi
    done
done

# Default leak settings ("possibly lost" is an error too) with the suppression file that ships
# (ffi/scoutlb.supp: the standard library's handle of the main thread, nothing else).
step "Valgrind (the debug cdylib, default leak settings, ffi/scoutlb.supp)"
# Linked as users link: the debug build just made, installed under $build (ffi/install.sh
# --no-build: with the SONAME link libscoutlb.so.0 that target/debug has not), found by pkg-config.
if ffi/install.sh "$build" --debug --no-build >/dev/null &&
    gcc "${STRICT[@]}" -g "${INC[@]}" "${DEFS[@]}" tests/c/test_api.c tests/c/testlib.c \
        $(PKG_CONFIG_PATH=$build/lib/pkgconfig pkg-config --libs scoutlb) -lpthread -o "$build/test_api_shared"; then
    LD_LIBRARY_PATH=$build/lib run_c "test_api under valgrind" valgrind -q --error-exitcode=1 --leak-check=full \
        --suppressions="$root/ffi/scoutlb.supp" "$build/test_api_shared" "$vectors"
else
    bad "gcc builds test_api against the shared library"
fi
if gcc "${STRICT[@]}" -g "${INC[@]}" tests/c/test_cancel.c tests/c/testlib.c -L"$build/lib" -lscoutlb -lpthread \
    -o "$build/test_cancel_shared"; then
    LD_LIBRARY_PATH=$build/lib run_c "test_cancel under valgrind" valgrind -q --error-exitcode=1 --leak-check=full \
        --suppressions="$root/ffi/scoutlb.supp" "$build/test_cancel_shared"
else
    bad "gcc builds test_cancel against the shared library"
fi
for t in "${VECTOR_TESTS[@]}"; do
    if gcc "${STRICT[@]}" -g "${INC[@]}" "tests/c/$t.c" tests/c/testlib.c $(extras_of "$t") -L"$build/lib" -lscoutlb -lpthread \
        -o "$build/${t}_shared"; then
        LD_LIBRARY_PATH=$build/lib run_c "$t under valgrind" valgrind -q --error-exitcode=1 --leak-check=full \
            --suppressions="$root/ffi/scoutlb.supp" "$build/${t}_shared" "$root/tests/vectors"
    else
        bad "gcc builds $t against the shared library"
    fi
done
# The suppression hides the standard library's block and nothing else: a program's own "possibly
# lost" block is still reported, alone.
if gcc "${STRICT[@]}" -g "${INC[@]}" tests/c/possibly_lost.c -L"$build/lib" -lscoutlb -o "$build/possibly_lost" &&
    ! LD_LIBRARY_PATH=$build/lib valgrind -q --error-exitcode=1 --leak-check=full \
        --suppressions="$root/ffi/scoutlb.supp" "$build/possibly_lost" >"$build/possibly_lost.log" 2>&1 &&
    [ "$(grep -c 'are possibly lost' "$build/possibly_lost.log")" = 1 ] &&
    grep -q '100 bytes in 1 blocks are possibly lost' "$build/possibly_lost.log"; then
    ok "ffi/scoutlb.supp hides the standard library's 48 bytes, not a program's own possibly lost block"
else
    cat "$build/possibly_lost.log"
    bad "ffi/scoutlb.supp: possibly_lost.c under valgrind"
fi

step "install like a C library (ffi/install.sh PREFIX --debug), pkg-config, SONAME, the example agent"
prefix=$tmp/prefix
if ffi/install.sh "$prefix" --debug; then
    ok "ffi/install.sh"
    soname=$(readelf -d "$prefix/lib/libscoutlb.so.$version" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
    if [ "$soname" = "libscoutlb.so.0" ] && [ -L "$prefix/lib/libscoutlb.so.0" ] && [ -L "$prefix/lib/libscoutlb.so" ] &&
        [ -f "$prefix/lib/libscoutlb.a" ] && [ -f "$prefix/include/scoutlb.h" ] &&
        [ -f "$prefix/share/scoutlb/scoutlb.supp" ]; then
        ok "installed libscoutlb.so.$version with SONAME $soname, its links, libscoutlb.a, scoutlb.h and scoutlb.supp"
    else
        bad "install layout or SONAME ($soname)"
    fi
    export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
    check "pkg-config --modversion scoutlb = $version" test "$(pkg-config --modversion scoutlb)" = "$version"
    # The documented one-liner, then the example's Makefile with both compilers.
    if cc "${STRICT[@]}" examples/c/agent.c $(pkg-config --cflags --libs scoutlb) -o "$build/agent_cc" &&
        grep -q 'NEEDED.*\[libscoutlb.so.0\]' <<<"$(readelf -d "$build/agent_cc")"; then
        ok "cc agent.c \$(pkg-config --cflags --libs scoutlb) links against libscoutlb.so.0"
    else
        bad "cc agent.c \$(pkg-config --cflags --libs scoutlb)"
    fi
    if gcc "${STRICT[@]}" -g "${INC[@]}" tests/c/agent_check.c tests/c/testlib.c "${STATIC_LIBS[@]}" \
        -o "$build/agent_check"; then
        for cc in gcc clang; do
            rm -rf "$build/agent-$cc"
            cp -r examples/c "$build/agent-$cc"
            if make -s -C "$build/agent-$cc" CC=$cc agent; then
                run_c "example agent built by make ($cc) fails over" "$build/agent_check" "$build/agent-$cc/agent"
            else
                bad "make examples/c with $cc"
            fi
            if make -s -C "$build/agent-$cc" CC=$cc glib_agent; then
                run_c "GLib example agent built by make ($cc) fails over" "$build/agent_check" "$build/agent-$cc/glib_agent"
            else
                bad "make glib_agent in examples/c with $cc"
            fi
        done
    else
        bad "gcc builds agent_check.c"
    fi
    # Static: scoutlb-static.pc names libscoutlb.a itself (pkg-config --static would still find the .so).
    if cc "${STRICT[@]}" examples/c/agent.c $(pkg-config --cflags --libs scoutlb-static) -o "$build/agent_static" &&
        ! grep -q 'NEEDED.*libscoutlb' <<<"$(readelf -d "$build/agent_static")"; then
        ok "cc agent.c \$(pkg-config --cflags --libs scoutlb-static) links libscoutlb.a (no NEEDED libscoutlb)"
    else
        bad "cc agent.c \$(pkg-config --cflags --libs scoutlb-static) still needs libscoutlb.so"
    fi
    unset PKG_CONFIG_PATH
else
    bad "ffi/install.sh"
fi

step "ffi/install.sh --no-build installs what was built, without cargo"
# A cargo that fails on every call stands first on PATH: --no-build must not call it.
mkdir -p "$tmp/nocargo"
printf '#!/bin/sh\necho "cargo was called: $*" >&2\nexit 1\n' >"$tmp/nocargo/cargo"
chmod +x "$tmp/nocargo/cargo"
if PATH=$tmp/nocargo:$PATH ffi/install.sh "$tmp/prebuilt" --debug --no-build >"$tmp/nobuild.log" 2>&1 &&
    cmp -s "$lib_so" "$tmp/prebuilt/lib/libscoutlb.so.$version" && [ -L "$tmp/prebuilt/lib/libscoutlb.so.0" ] &&
    [ -f "$tmp/prebuilt/lib/pkgconfig/scoutlb.pc" ]; then
    ok "install.sh --debug --no-build copies target/debug's files (no cargo run)"
else
    cat "$tmp/nobuild.log"
    bad "install.sh --debug --no-build"
fi
if ! CARGO_TARGET_DIR=$tmp/empty-target ffi/install.sh "$tmp/none" --no-build >"$tmp/nobuild.log" 2>&1 &&
    grep -q "libscoutlb.so is missing: build it first (cargo build -p scoutlb-ffi --profile dist)" "$tmp/nobuild.log"; then
    ok "install.sh --no-build without a build says which cargo command makes it"
else
    cat "$tmp/nobuild.log"
    bad "install.sh --no-build without a build"
fi

# ---- C++ -----------------------------------------------------------------------------------------
step "the C++ API: tests/cpp/run.sh (scoutlb.hpp, the C++ agent, CMake)"
check "tests/cpp/run.sh" bash tests/cpp/run.sh

# ---- benchmark -----------------------------------------------------------------------------------
if [ $bench = 1 ]; then
    step "benchmark (release): ns per call, C ABI against the Rust core"
    if cargo build -p scoutlb-ffi --release --quiet &&
        gcc -std=c99 -O2 -I"$root/include" tests/c/bench.c "$target/release/libscoutlb.a" -lpthread -ldl -lm \
            -o "$build/bench" &&
        "$build/bench" >"$build/bench.txt" && cargo bench -p scoutlb-ffi --bench calls --quiet >>"$build/bench.txt"; then
        python3 - "$build/bench.txt" <<'EOF'
import sys
rows = {}
for line in open(sys.argv[1]):
    parts = line.split()
    if len(parts) == 3 and parts[0] in ("c", "rust"):
        rows[(parts[0], parts[1])] = float(parts[2])
print(f"{'call':<34}{'Rust API':>10}{'Rust+text':>11}{'C ABI':>9}{'C - Rust':>10}{'C - (Rust+text)':>17}")
for call, label in [("candidates_100", "ordered candidates (100 servers)"),
                    ("report_success_default", "report success of the default"),
                    ("default_server", "read the default server")]:
    r, rt, c = rows[("rust", call)], rows[("rust", call + "_text")], rows[("c", call)]
    print(f"{label:<34}{r:>10.1f}{rt:>11.1f}{c:>9.1f}{c - r:>10.1f}{c - rt:>17.1f}")
print("ns per call; 'Rust+text' adds the conversion to the C text form (formatting, parsing),"
      " so 'C - (Rust+text)' is the cost of the boundary itself (target: under 100 ns).")
EOF
        ok "benchmark"
    else
        bad "benchmark"
    fi
fi

finish_suite "C ABI suite"
