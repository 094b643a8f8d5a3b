# The pinned versions of the cargo-installed tools, in one place: sourced by tests/install-deps.sh,
# ffi/gen-header.sh, fuzz/common.sh and packaging/build.sh.
# shellcheck shell=bash
CBINDGEN_VERSION=0.29.4
CARGO_FUZZ_VERSION=0.13.2
CARGO_DEB_VERSION=3.8.0
