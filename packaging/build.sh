#!/usr/bin/env bash
# Build the Debian packages of scoutlb with cargo-deb, from one `dist` build of the workspace:
#   libscoutlb0      the shared library (SONAME libscoutlb.so.0)
#   libscoutlb-dev   scoutlb.h, scoutlb.hpp, libscoutlb.a, the libscoutlb.so link, pkg-config, CMake
#   scoutlb          the CLI with its man page (configuration keys included) and bash, zsh and fish completions
#   scout-server     the reference server with its systemd unit and system user
# Usage: packaging/build.sh [OUTDIR]     (default: target/debian; prints the .deb paths at the end)
# Needs cargo-deb and dpkg-dev, which tests/install-deps.sh installs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=${1:-}

source "$root/tests/tool-versions.sh"
command -v dpkg-shlibdeps >/dev/null 2>&1 || { echo "dpkg-dev is missing: run tests/install-deps.sh" >&2; exit 1; }
cargo deb --version 2>/dev/null | grep -q " $CARGO_DEB_VERSION" ||
    { echo "cargo-deb $CARGO_DEB_VERSION is missing: run tests/install-deps.sh" >&2; exit 1; }

metadata=$(cargo metadata --no-deps --format-version 1)
target=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])' <<<"$metadata")
version=$(python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "scoutlb-ffi"))' <<<"$metadata")
out=${out:-$target/debian}
mkdir -p "$out"

# One build of everything shipped; cargo-deb then only packs (--no-build).
cargo build --profile dist -p scoutlb-ffi -p scoutlb-cli -p scout-server --quiet

# The library files as installed on Debian (multiarch libdir), stripped, with pkg-config and CMake files.
stage=$target/dist/deb-stage
rm -rf "$stage"
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
DESTDIR=$stage ffi/install.sh /usr --libdir "lib/$multiarch" --no-build >/dev/null
mv "$stage/usr/lib/$multiarch" "$stage/lib" # a path without the tuple for Cargo.toml; cargo-deb adds it back

# The CLI's man page and completions, generated from its argument parser and the keys' table.
bash examples/cli/gen-assets.sh "$stage/cli"
gzip -9n "$stage/cli/scoutlb.1"

# The dependencies written in ffi/Cargo.toml: the library's as dpkg-shlibdeps finds them, and the
# -dev package's on the library package of the same version.
shlibs=$(cd "$stage" && mkdir -p debian && touch debian/control &&
    dpkg-shlibdeps -O -e "lib/libscoutlb.so.$version" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
for want in "depends = \"$shlibs\"" "depends = \"libscoutlb0 (= $version-1)\""; do
    if ! grep -qxF "$want" ffi/Cargo.toml; then
        echo "packaging/build.sh: ffi/Cargo.toml needs the line: $want" >&2
        exit 1
    fi
done
if ! grep -qF "deb-stage/lib/libscoutlb.so.$version\"" ffi/Cargo.toml ||
    ! grep -q "^scoutlb ($version-1) " packaging/changelog; then
    echo "packaging/build.sh: ffi/Cargo.toml and packaging/changelog must name version $version" >&2
    exit 1
fi

deb() { cargo deb --no-build --profile dist --quiet --output "$out" "$@"; }
debs=()
debs+=("$(deb -p scoutlb-ffi --multiarch=same)")
# Control files of a shared-library package that cargo-deb does not write: the shlibs file (which
# package provides libscoutlb.so.0 to dpkg-shlibdeps of programs linked against it) and the
# ldconfig trigger. Unpack, add, pack again.
unpacked=$stage/libscoutlb0
dpkg-deb -R "${debs[0]}" "$unpacked"
install -m 0644 packaging/libscoutlb0/shlibs packaging/libscoutlb0/triggers "$unpacked/DEBIAN/"
dpkg-deb --root-owner-group -Zxz -b "$unpacked" "${debs[0]}" >/dev/null
debs+=("$(deb -p scoutlb-ffi --variant dev --multiarch=same)")
debs+=("$(deb -p scoutlb-cli --strip)")
debs+=("$(deb -p scout-server --strip)")
printf '%s\n' "${debs[@]}"
