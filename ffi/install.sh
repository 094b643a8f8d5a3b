#!/usr/bin/env bash
# Install the scoutlb C library like a C library (a stand-in for cargo-c's `cargo cinstall`):
#   PREFIX/lib/libscoutlb.so.<version>, its SONAME link libscoutlb.so.<abi> and libscoutlb.so,
#   PREFIX/lib/libscoutlb.a, PREFIX/include/scoutlb.h, PREFIX/lib/pkgconfig/scoutlb.pc
# Usage: ffi/install.sh PREFIX [--debug]
#   Builds `scoutlb-ffi` (release, or the dev profile with --debug) and installs it under PREFIX.
#   Then: cc agent.c $(PKG_CONFIG_PATH=PREFIX/lib/pkgconfig pkg-config --cflags --libs scoutlb)
#   Static linking: pkg-config --static --libs scoutlb, with -l:libscoutlb.a or only the .a installed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
prefix=${1:?usage: ffi/install.sh PREFIX [--debug]}
profile=release
if [ "${2:-}" = "--debug" ]; then profile=debug; fi
case $prefix in /*) ;; *) prefix=$(pwd)/$prefix ;; esac

if [ $profile = release ]; then
    cargo build --manifest-path "$root/Cargo.toml" -p scoutlb-ffi --release --quiet
else
    cargo build --manifest-path "$root/Cargo.toml" -p scoutlb-ffi --quiet
fi
target=$(cargo metadata --manifest-path "$root/Cargo.toml" --no-deps --format-version 1 \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
version=$(cargo metadata --manifest-path "$root/Cargo.toml" --no-deps --format-version 1 \
    | python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "scoutlb-ffi"))')
built=$target/$profile
# The SONAME (set by ffi/build.rs) names the link the loader looks for.
soname=$(readelf -d "$built/libscoutlb.so" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
if [ -z "$soname" ]; then
    echo "install.sh: $built/libscoutlb.so has no SONAME" >&2
    exit 1
fi

install -d "$prefix/lib/pkgconfig" "$prefix/include"
install -m 0755 "$built/libscoutlb.so" "$prefix/lib/libscoutlb.so.$version"
ln -sfn "libscoutlb.so.$version" "$prefix/lib/$soname"
ln -sfn "$soname" "$prefix/lib/libscoutlb.so"
install -m 0644 "$built/libscoutlb.a" "$prefix/lib/libscoutlb.a"
install -m 0644 "$root/include/scoutlb.h" "$prefix/include/scoutlb.h"
sed -e "s|@PREFIX@|$prefix|" -e "s|@VERSION@|$version|" "$root/ffi/scoutlb.pc.in" >"$prefix/lib/pkgconfig/scoutlb.pc"
echo "installed scoutlb $version ($soname, $profile) under $prefix"
