#!/usr/bin/env bash
# The Python suite: build the scoutlb wheel with maturin, install it into a fresh virtual
# environment, then run pytest (warnings are errors), mypy --strict over the stubs and tests, and
# stubtest against the installed module. Exits non-zero when anything fails.
#
# The wheel is built with the default dev profile in the shared target dir, so the core crate's
# dev artifacts are reused; only the binding crate is compiled. Nothing is written into the
# source tree except __pycache__ (ignored by git).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY_DIR="$ROOT/python"
VENV="$ROOT/target/py-test-venv"
WHEELS="$ROOT/target/py-wheels"
PYTHON="${PYTHON:-python3}"

step() { printf '\n== %s\n' "$*"; }

# Prerequisites (tests/install-deps.sh installs them): python3 >= 3.9 with venv and pip, and cargo.
if ! "$PYTHON" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 9))' 2>/dev/null; then
    echo "python/run-tests.sh: needs Python >= 3.9 with the venv module (run tests/install-deps.sh)" >&2
    exit 1
fi
command -v cargo >/dev/null || { echo "python/run-tests.sh: needs cargo (rustup)" >&2; exit 1; }

step "fresh virtual environment in ${VENV#"$ROOT"/}"
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    "maturin>=1.9.4,<2" "pytest>=8" "mypy>=1.11" "auditwheel>=6"

step "building the wheel (dev profile, shared target dir)"
rm -rf "$WHEELS"
"$VENV/bin/maturin" build --quiet -m "$PY_DIR/Cargo.toml" --out "$WHEELS" --interpreter "$VENV/bin/python"
WHEEL=("$WHEELS"/scoutlb-*-cp39-abi3-*.whl)
[ -f "${WHEEL[0]}" ] || { echo "python/run-tests.sh: no abi3 wheel was built" >&2; exit 1; }
echo "${WHEEL[0]#"$ROOT"/}"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall "${WHEEL[0]}"

# The platform tag in the wheel's name is one auditwheel confirms from the symbols it links (manylinux).
step "auditwheel show"
claimed=$(basename "${WHEEL[0]}" .whl)
claimed=${claimed##*-}
confirmed=$("$VENV/bin/auditwheel" show "${WHEEL[0]}" | tr '\n' ' ' | sed -n 's/.*platform tag: "\([^"]*\)".*/\1/p')
echo "wheel tag $claimed; auditwheel: $confirmed"
case $confirmed in
manylinux_*) [ "$confirmed" = "$claimed" ] || { echo "python/run-tests.sh: auditwheel says $confirmed" >&2; exit 1; } ;;
*) echo "python/run-tests.sh: auditwheel does not call the wheel manylinux: ${confirmed:-no tag}" >&2; exit 1 ;;
esac

# Run from outside the source tree so that `import scoutlb` is the installed wheel.
cd "$VENV"
"$VENV/bin/python" - <<'PY'
import pathlib, scoutlb
where = pathlib.Path(scoutlb.__file__)
assert "site-packages" in where.parts, f"scoutlb imported from {where}, not from the installed wheel"
for name in ("py.typed", "_native.pyi"):
    assert (where.parent / name).is_file(), f"the wheel lacks scoutlb/{name}"
PY

failed=()
step "pytest"
"$VENV/bin/python" -m pytest -c "$PY_DIR/pyproject.toml" --rootdir "$PY_DIR" -p no:cacheprovider \
    -W error "$PY_DIR/tests" || failed+=(pytest)

step "mypy --strict (stubs and tests)"
(cd "$PY_DIR" && "$VENV/bin/python" -m mypy --strict --cache-dir "$VENV/mypy-cache" scoutlb tests) || failed+=(mypy)

step "stubtest"
"$VENV/bin/python" -m mypy.stubtest scoutlb --mypy-config-file "$PY_DIR/pyproject.toml" || failed+=(stubtest)

# abi3: the same wheel must work on the oldest CPython it claims (3.9), when one is installed.
step "pytest on CPython 3.9 with the same abi3 wheel"
PY39=""
for candidate in python3.9 "$(pyenv root 2>/dev/null)"/versions/3.9*/bin/python3.9; do
    if [ -n "$candidate" ] && "$candidate" -c 'import sys, venv; sys.exit(sys.version_info[:2] != (3, 9))' 2>/dev/null; then
        PY39="$candidate"
        break
    fi
done
if [ -z "$PY39" ] && [ "${SCOUTLB_TEST_REQUIRE:-}" = 1 ]; then
    echo "python/run-tests.sh: no Python 3.9 interpreter for the abi3 check (SCOUTLB_TEST_REQUIRE=1)" >&2
    failed+=(python-3.9-missing)
elif [ -z "$PY39" ]; then
    echo "SKIPPED: abi3 check on CPython 3.9: no Python 3.9 interpreter found"
else
    rm -rf "$VENV-3.9"
    "$PY39" -m venv "$VENV-3.9"
    "$VENV-3.9/bin/python" -m pip install --quiet --disable-pip-version-check "pytest>=8" "${WHEEL[0]}"
    "$VENV-3.9/bin/python" -m pytest -q -c "$PY_DIR/pyproject.toml" --rootdir "$PY_DIR" -p no:cacheprovider \
        -W error "$PY_DIR/tests" || failed+=(pytest-3.9)
fi

if [ ${#failed[@]} -ne 0 ]; then
    printf '\npython/run-tests.sh: FAILED: %s\n' "${failed[*]}" >&2
    exit 1
fi
printf '\npython/run-tests.sh: all passed\n'
