#!/usr/bin/env bash
# Install everything the test suites need, once: Debian packages, clang's sanitizer and libFuzzer
# runtimes, the pinned cargo tools (tests/tool-versions.sh) and the pinned Python test tools
# (python/requirements-test*.txt, in virtual environments under target/). Skips what is already there. The
# suites themselves install nothing: a missing prerequisite fails them with a pointer here.
set -euo pipefail
source "$(dirname "$0")/tool-versions.sh"
packages=(dnsmasq-base haproxy postgresql iptables iproute2 gcc g++ clang valgrind pkg-config make binutils
    groff-base zsh fish strace fuse3 isc-dhcp-client dhcpcd-base python3-venv python3-pip cmake dpkg-dev lintian fonts-dejavu-core libglib2.0-dev)
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
# The Python suite's tools, pinned, in two virtual environments under target/ (python/venvs.sh).
source "$(dirname "$0")/../python/venvs.sh"
if ! "$PYTHON" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 9))' 2>/dev/null; then
    echo "$PYTHON is older than 3.9 or lacks the venv module: the Python suite needs both" >&2
    exit 1
fi
if ! venv_ready "$VENV" "$REQUIREMENTS"; then
    echo "installing: ${REQUIREMENTS#"$ROOT"/} into ${VENV#"$ROOT"/}"
    make_venv "$VENV" "$PYTHON" "$REQUIREMENTS"
fi
if py39=$(find_python39); then
    if ! venv_ready "$VENV39" "$REQUIREMENTS39"; then
        echo "installing: ${REQUIREMENTS39#"$ROOT"/} into ${VENV39#"$ROOT"/}"
        make_venv "$VENV39" "$py39" "$REQUIREMENTS39"
    fi
else
    echo "no CPython 3.9 here (on PATH or under pyenv): the Python suite's abi3 check cannot run" >&2
fi
