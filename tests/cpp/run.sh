#!/usr/bin/env bash
# The C++ API suite (include/scoutlb.hpp): tests/cpp/test_hpp.cpp built by g++ and clang++
# (-std=c++17 -Wall -Wextra -Wpedantic -Werror), under ASan+UBSan and Valgrind; the one #error
# below C++17 and from C; the example agent (examples/cpp) built with pkg-config and with CMake
# (find_package(scoutlb)) against an installed prefix and run through a failover; the CMake
# package's version check.
# Usage: tests/cpp/run.sh        (run by tests/c/run.sh; needs g++, clang++, valgrind, cmake)
# Ends with "C++ suite: N passed, N failed"; exits non-zero when a check failed.
set -uo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
STRICT=(-std=c++17 -Wall -Wextra -Wpedantic -Werror)
SAN=(-g -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
source "$(dirname "$0")/../suite.sh"
# Run a test binary: it must exit 0 and print "N passed, 0 failed".
run_t() {
    local name=$1
    shift
    local log=$build/log.$((passed + failed))
    if "$@" >"$log" 2>&1 && grep -Eq '^[0-9]+ passed, 0 failed$' "$log"; then
        ok "$name: $(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log")"
    else
        cat "$log"
        bad "$name"
    fi
}

need=()
for pair in g++:g++ clang++:clang valgrind:valgrind cmake:cmake pkg-config:pkg-config; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "missing: ${need[*]} (run tests/install-deps.sh)"
    echo "0 passed, 1 failed"
    exit 1
fi

target=$(cargo metadata --no-deps --format-version 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
build=$target/cpp-tests
rm -rf "$build"
mkdir -p "$build/lib"
tmp=$(mktemp -d /tmp/scoutlb-cpp-suite.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

step "build scoutlb-ffi (debug)"
if ! cargo build -p scoutlb-ffi --quiet; then
    bad "cargo build -p scoutlb-ffi"
    finish_suite "C++ suite"
    exit 1
fi
lib_a=$target/debug/libscoutlb.a
lib_so=$target/debug/libscoutlb.so
STATIC_LIBS=("$lib_a" -lpthread -ldl -lm)

for cxx in g++ clang++; do
    step "C++ tests built by $cxx (${STRICT[*]})"
    if $cxx "${STRICT[@]}" -g -Iinclude tests/cpp/test_hpp.cpp "${STATIC_LIBS[@]}" -o "$build/test_hpp_$cxx"; then
        ok "$cxx compiles test_hpp.cpp"
        run_t "test_hpp ($cxx)" "$build/test_hpp_$cxx"
    else
        bad "$cxx compiles test_hpp.cpp"
    fi

    step "AddressSanitizer + UndefinedBehaviorSanitizer ($cxx)"
    exe=$build/test_hpp_asan_$cxx
    if $cxx "${STRICT[@]}" "${SAN[@]}" -Iinclude tests/cpp/test_hpp.cpp "${STATIC_LIBS[@]}" -o "$exe"; then
        symbols=$(nm "$exe")
        if grep -q '__asan_init' <<<"$symbols" && grep -q '__ubsan_handle' <<<"$symbols"; then
            ok "$cxx: ASan and UBSan runtimes are linked (nm)"
        else
            bad "$cxx: sanitizer runtime symbols missing"
        fi
        ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
            run_t "test_hpp under ASan+UBSan ($cxx)" "$exe"
    else
        bad "$cxx builds the sanitizer test"
    fi
done

# Below C++17 (and from C) the header stops at one clear #error, not at errors about string_view.
step "scoutlb.hpp below C++17 and from C: one clear #error"
printf '#include <scoutlb.hpp>\nint main() { return 0; }\n' >"$tmp/old_standard.cpp"
for cxx in g++ clang++; do
    for std in c++11 c++14; do
        if ! $cxx -std=$std -Iinclude -fsyntax-only "$tmp/old_standard.cpp" >"$tmp/old.log" 2>&1 &&
            grep -q 'scoutlb.hpp needs C++17 or newer' "$tmp/old.log" &&
            [ "$(grep -c ' error: ' "$tmp/old.log")" = 1 ] && ! grep -q string_view "$tmp/old.log"; then
            ok "$cxx -std=$std: one #error naming C++17"
        else
            cat "$tmp/old.log"
            bad "$cxx -std=$std: not one clear #error"
        fi
    done
done
if ! gcc -x c -std=c99 -Iinclude -fsyntax-only "$tmp/old_standard.cpp" >"$tmp/old.log" 2>&1 &&
    grep -q 'C programs include scoutlb.h' "$tmp/old.log" && [ "$(grep -c ' error: ' "$tmp/old.log")" = 1 ]; then
    ok "gcc -x c: one #error pointing to scoutlb.h"
else
    cat "$tmp/old.log"
    bad "gcc -x c: not one clear #error"
fi

step "Valgrind (the debug cdylib, default leak settings, ffi/scoutlb.supp)"
ln -sf "$lib_so" "$build/lib/libscoutlb.so.0"
ln -sf libscoutlb.so.0 "$build/lib/libscoutlb.so"
if g++ "${STRICT[@]}" -g -Iinclude tests/cpp/test_hpp.cpp -L"$build/lib" -lscoutlb -lpthread -o "$build/test_hpp_shared"; then
    LD_LIBRARY_PATH=$build/lib run_t "test_hpp under valgrind" valgrind -q --error-exitcode=1 --leak-check=full \
        --suppressions="$root/ffi/scoutlb.supp" "$build/test_hpp_shared"
else
    bad "g++ builds test_hpp against the shared library"
fi

step "the example agent (examples/cpp) against an installed prefix: pkg-config and CMake"
prefix=$tmp/prefix
if ffi/install.sh "$prefix" --debug >/dev/null; then
    ok "ffi/install.sh $prefix --debug"
    if gcc -std=c99 -Wall -Wextra -Wpedantic -Werror -g -Iinclude -Itests/c tests/c/agent_check.c tests/c/testlib.c \
        "${STATIC_LIBS[@]}" -o "$build/agent_check"; then
        for cxx in g++ clang++; do
            cp -r examples/cpp "$build/make-$cxx"
            rm -rf "$build/make-$cxx/build"
            if PKG_CONFIG_PATH=$prefix/lib/pkgconfig make -s -C "$build/make-$cxx" CXX=$cxx agent; then
                run_t "C++ agent built by make + pkg-config ($cxx) fails over" "$build/agent_check" \
                    "$build/make-$cxx/agent"
            else
                bad "make examples/cpp with $cxx"
            fi
        done
        if cmake -S examples/cpp -B "$build/cmake" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Debug \
            >"$build/cmake.log" 2>&1 && cmake --build "$build/cmake" >>"$build/cmake.log" 2>&1; then
            ok "cmake: find_package(scoutlb 0.1) and scoutlb::scoutlb, scoutlb::scoutlb_static build the agent"
            if readelf -d "$build/cmake/agent" | grep -q 'NEEDED.*\[libscoutlb.so.0\]' &&
                ! readelf -d "$build/cmake/agent_static" | grep -q 'libscoutlb'; then
                ok "cmake: agent needs libscoutlb.so.0, agent_static carries the library"
            else
                bad "cmake: the agents link the wrong library"
            fi
            run_t "C++ agent built by CMake (shared) fails over" "$build/agent_check" "$build/cmake/agent"
            run_t "C++ agent built by CMake (static) fails over" "$build/agent_check" "$build/cmake/agent_static"
        else
            cat "$build/cmake.log"
            bad "cmake builds examples/cpp against $prefix"
        fi
    else
        bad "gcc builds agent_check.c"
    fi

    # The version file: 0.1 and 0.1.0 match, 0.2, 1.0 and a newer patch than installed do not.
    version=$(sed -n 's/^#define SCOUTLB_VERSION "\(.*\)"$/\1/p' include/scoutlb.h)
    IFS=. read -r major minor patch <<<"$version"
    mkdir -p "$tmp/find"
    versions_ok=1
    for want in "$major.$minor:found" "$version:found" "$major.$((minor + 1)):refused" "$((major + 1)).0:refused" \
        "$major.$minor.$((patch + 1)):refused"; do
        printf 'cmake_minimum_required(VERSION 3.16)\nproject(v LANGUAGES C)\nfind_package(scoutlb %s REQUIRED)\n' \
            "${want%%:*}" >"$tmp/find/CMakeLists.txt"
        rm -rf "$tmp/find/build"
        if cmake -S "$tmp/find" -B "$tmp/find/build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null 2>&1; then
            got=found
        else
            got=refused
        fi
        if [ "$got" != "${want#*:}" ]; then
            echo "find_package(scoutlb ${want%%:*}) was $got against $version"
            versions_ok=0
        fi
    done
    if [ $versions_ok = 1 ]; then
        ok "scoutlbConfigVersion.cmake: $major.$minor and $version accepted; newer minor, major, patch refused"
    else
        bad "scoutlbConfigVersion.cmake accepts or refuses the wrong versions"
    fi
else
    bad "ffi/install.sh $prefix --debug"
fi

finish_suite "C++ suite"
