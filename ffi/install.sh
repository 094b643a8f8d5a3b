#!/usr/bin/env bash
# Install the scoutlb C/C++ library like a C library (a stand-in for cargo-c's `cargo cinstall`):
#   PREFIX/LIBDIR/libscoutlb.so.<version>, its SONAME link libscoutlb.so.<abi> and libscoutlb.so,
#   PREFIX/LIBDIR/libscoutlb.a, PREFIX/include/scoutlb.h and scoutlb.hpp,
#   PREFIX/LIBDIR/pkgconfig/scoutlb.pc and scoutlb-static.pc (links libscoutlb.a),
#   PREFIX/LIBDIR/cmake/scoutlb/scoutlbConfig{,Version}.cmake
# Usage: ffi/install.sh PREFIX [--debug] [--debug-symbols] [--libdir DIR] [--no-build]
#   (default)        the `dist` profile (LTO, one codegen unit), stripped: the debug info is split off
#                    into target/dist/ship/libscoutlb.so.<version>.debug, linked by .gnu_debuglink
#   --debug-symbols  also install that debug info as PREFIX/lib/debug/.build-id/NN/REST.debug, where
#                    gdb finds it (for PREFIX /usr with no setting; else: set debug-file-directory
#                    PREFIX/lib/debug)
#   --debug          the dev profile instead: unoptimised, with debug info, not stripped
#   --libdir DIR     the library folder relative to PREFIX (default: lib; Debian: lib/x86_64-linux-gnu)
#   --no-build       install what an earlier build left in TARGET/dist (TARGET/debug with --debug),
#                    without running cargo: `cargo build -p scoutlb-ffi --profile dist` (or without
#                    --profile for --debug) first; TARGET is $CARGO_TARGET_DIR, else target/ of the checkout
#   DESTDIR=STAGE    install under STAGE/PREFIX, with PREFIX in the pkg-config file (for packaging)
# Then: cc agent.c $(PKG_CONFIG_PATH=PREFIX/lib/pkgconfig pkg-config --cflags --libs scoutlb)
#   (static: pkg-config --cflags --libs scoutlb-static)
#   or, in CMake: find_package(scoutlb 0.1 REQUIRED) with CMAKE_PREFIX_PATH=PREFIX.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
usage="usage: ffi/install.sh PREFIX [--debug] [--debug-symbols] [--libdir DIR] [--no-build]"
prefix=${1:?$usage}
shift
profile=dist
debug_symbols=0
libdir=lib
build=1
while [ $# -gt 0 ]; do
    case $1 in
    --debug) profile=debug ;;
    --no-build) build=0 ;;
    --debug-symbols) debug_symbols=1 ;;
    --libdir)
        libdir=${2:?$usage}
        shift
        ;;
    *)
        echo "$usage" >&2
        exit 2
        ;;
    esac
    shift
done
case $prefix in /*) ;; *) prefix=$(pwd)/$prefix ;; esac
case $libdir in /* | *..*)
    echo "install.sh: --libdir is a folder inside PREFIX, such as lib or lib/x86_64-linux-gnu" >&2
    exit 2
    ;;
esac
if [ $profile = debug ] && [ $debug_symbols = 1 ]; then
    echo "install.sh: --debug installs unstripped files; --debug-symbols is for the default build" >&2
    exit 2
fi
dest=${DESTDIR:-}

if [ $build = 1 ]; then
    if [ $profile = dist ]; then
        cargo build --manifest-path "$root/Cargo.toml" -p scoutlb-ffi --profile dist --quiet
    else
        cargo build --manifest-path "$root/Cargo.toml" -p scoutlb-ffi --quiet
    fi
    metadata=$(cargo metadata --manifest-path "$root/Cargo.toml" --no-deps --format-version 1)
    target=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])' <<<"$metadata")
    version=$(python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "scoutlb-ffi"))' <<<"$metadata")
else
    # No cargo: the workspace's version (scoutlb-ffi inherits it) and the target folder as cargo names it.
    target=${CARGO_TARGET_DIR:-$root/target}
    case $target in /*) ;; *) target=$root/$target ;; esac
    version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' "$root/Cargo.toml")
fi
built=$target/$profile
for f in "$built/libscoutlb.so" "$built/libscoutlb.a"; do
    if [ ! -f "$f" ]; then
        flag=$([ $profile = dist ] && echo " --profile dist")
        echo "install.sh: $f is missing: build it first (cargo build -p scoutlb-ffi$flag), or leave out --no-build" >&2
        exit 1
    fi
done
# The SONAME (set by ffi/build.rs) names the link the loader looks for.
soname=$(readelf -d "$built/libscoutlb.so" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
if [ -z "$soname" ]; then
    echo "install.sh: $built/libscoutlb.so has no SONAME" >&2
    exit 1
fi

so=$built/libscoutlb.so
a=$built/libscoutlb.a
if [ $profile = dist ]; then
    # Split: the debug info (compressed) into its own file, then strip the library and point it
    # there by .gnu_debuglink; the static library keeps its symbol table, loses its debug info.
    ship=$built/ship
    mkdir -p "$ship"
    debug_file=$ship/libscoutlb.so.$version.debug
    if [ ! -f "$ship/libscoutlb.so" ] || [ ! -f "$debug_file" ] || [ "$so" -nt "$ship/libscoutlb.so" ] || [ "$a" -nt "$ship/libscoutlb.a" ]; then
        objcopy --only-keep-debug --compress-debug-sections=zlib "$so" "$debug_file"
        strip --strip-unneeded --remove-section=.comment -o "$ship/libscoutlb.so" "$so"
        objcopy --add-gnu-debuglink="$debug_file" "$ship/libscoutlb.so"
        strip --strip-debug -o "$ship/libscoutlb.a" "$a"
    fi
    so=$ship/libscoutlb.so
    a=$ship/libscoutlb.a
fi

lib=$dest$prefix/$libdir
inc=$dest$prefix/include
install -d "$lib/pkgconfig" "$lib/cmake/scoutlb" "$inc"
install -m 0644 "$so" "$lib/libscoutlb.so.$version"
ln -sfn "libscoutlb.so.$version" "$lib/$soname"
ln -sfn "$soname" "$lib/libscoutlb.so"
install -m 0644 "$a" "$lib/libscoutlb.a"
install -m 0644 "$root/include/scoutlb.h" "$root/include/scoutlb.hpp" "$inc/"
# The Valgrind suppression of the standard library's per-thread handle (README, "C").
install -d "$dest$prefix/share/scoutlb"
install -m 0644 "$root/ffi/scoutlb.supp" "$dest$prefix/share/scoutlb/"
for pc in scoutlb scoutlb-static; do
    sed -e "s|@PREFIX@|$prefix|" -e "s|@LIBDIR@|$libdir|" -e "s|@VERSION@|$version|" \
        "$root/ffi/$pc.pc.in" >"$lib/pkgconfig/$pc.pc"
done
IFS=. read -r major minor _ <<<"${version%%[-+]*}"
include_from_libdir=$(python3 -c 'import os,sys; print(os.path.relpath(sys.argv[1], sys.argv[2]))' \
    "$prefix/include" "$prefix/$libdir")
sizeof_void_p=$(($(getconf LONG_BIT) / 8))
for f in scoutlbConfig.cmake scoutlbConfigVersion.cmake; do
    sed -e "s|@VERSION@|$version|g" -e "s|@VERSION_MAJOR@|$major|g" -e "s|@VERSION_MINOR@|$minor|g" \
        -e "s|@SONAME@|$soname|g" -e "s|@INCLUDEDIR_FROM_LIBDIR@|$include_from_libdir|g" \
        -e "s|@SIZEOF_VOID_P@|$sizeof_void_p|g" "$root/ffi/cmake/$f.in" >"$lib/cmake/scoutlb/$f"
    chmod 0644 "$lib/cmake/scoutlb/$f"
done
if [ $debug_symbols = 1 ]; then
    build_id=$(readelf -n "$so" | sed -n 's/.*Build ID: \([0-9a-f]*\).*/\1/p')
    if [ -z "$build_id" ]; then
        echo "install.sh: $so has no build ID for the debug symbols" >&2
        exit 1
    fi
    install -d "$dest$prefix/lib/debug/.build-id/${build_id:0:2}"
    install -m 0644 "$debug_file" "$dest$prefix/lib/debug/.build-id/${build_id:0:2}/${build_id:2}.debug"
fi
echo "installed scoutlb $version ($soname, $profile profile$([ $profile = dist ] && echo ", stripped")$(
    [ $debug_symbols = 1 ] && echo ", debug symbols in lib/debug/.build-id")) under $dest$prefix"
