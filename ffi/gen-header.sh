#!/usr/bin/env bash
# Regenerate include/scoutlb.h from ffi/src with the pinned cbindgen, adding the
# SCOUTLB_VERSION_* macros from the workspace Cargo.toml (the one source of the version).
# Usage: ffi/gen-header.sh [OUTPUT]   (default: include/scoutlb.h)
set -euo pipefail
source "$(dirname "$0")/../tests/tool-versions.sh"
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/include/scoutlb.h}
if [ "$(cbindgen --version 2>/dev/null)" != "cbindgen $CBINDGEN_VERSION" ]; then
    echo "gen-header.sh: needs cbindgen $CBINDGEN_VERSION: cargo install cbindgen --version $CBINDGEN_VERSION --locked" >&2
    exit 1
fi
version=$(cargo metadata --manifest-path "$root/Cargo.toml" --no-deps --format-version 1 \
    | python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "scoutlb-ffi"))')
IFS=. read -r major minor patch <<<"${version%%[-+]*}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
{
    printf 'after_includes = """\n'
    printf '/** Version of this header, as in Cargo.toml; compare with scoutlb_version() at run time. */\n'
    printf '#define SCOUTLB_VERSION "%s"\n' "$version"
    printf '/** Major version of this header. */\n#define SCOUTLB_VERSION_MAJOR %s\n' "$major"
    printf '/** Minor version of this header. */\n#define SCOUTLB_VERSION_MINOR %s\n' "$minor"
    printf '/** Patch version of this header. */\n#define SCOUTLB_VERSION_PATCH %s\n' "$patch"
    printf '"""\n'
    cat "$root/ffi/cbindgen.toml"
} >"$tmp/cbindgen.toml"
cbindgen --quiet --config "$tmp/cbindgen.toml" --crate scoutlb-ffi --output "$tmp/scoutlb.h" "$root/ffi"
mkdir -p "$(dirname "$out")"
mv "$tmp/scoutlb.h" "$out"
