#!/usr/bin/env bash
# Install everything the test suites need, once: Debian packages, clang's sanitizer and libFuzzer
# runtimes, and the pinned cargo tools (tests/tool-versions.sh). Skips what is already there. The
# suites themselves install nothing: a missing prerequisite fails them with a pointer here.
set -euo pipefail
source "$(dirname "$0")/tool-versions.sh"
packages=(dnsmasq-base haproxy postgresql iptables iproute2 gcc g++ clang valgrind pkg-config make binutils
    groff-base zsh fish strace fuse3 python3-venv python3-pip cmake dpkg-dev lintian fonts-dejavu-core)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# clang's sanitizer and libFuzzer runtimes are a package of their own, named after clang's version.
if [ ! -f "$(clang -print-file-name=libclang_rt.fuzzer-x86_64.a)" ]; then
    rt="libclang-rt-$(clang -dumpversion | cut -d. -f1)-dev"
    echo "installing: $rt"
    $sudo apt-get install -y -qq --no-install-recommends "$rt" >/dev/null
fi
if [ "$(cbindgen --version 2>/dev/null)" != "cbindgen $CBINDGEN_VERSION" ]; then
    echo "installing: cbindgen $CBINDGEN_VERSION"
    cargo install cbindgen --version "$CBINDGEN_VERSION" --locked --quiet
fi
if ! cargo deb --version 2>/dev/null | grep -q " $CARGO_DEB_VERSION"; then
    echo "installing: cargo-deb $CARGO_DEB_VERSION"
    cargo install cargo-deb --version "$CARGO_DEB_VERSION" --locked --quiet
fi
if ! cargo fuzz --version 2>/dev/null | grep -q " $CARGO_FUZZ_VERSION"; then
    echo "installing: cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --quiet
fi
