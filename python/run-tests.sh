#!/usr/bin/env bash
# The Python suite: build the scoutlb wheel with maturin, install it into the test virtual
# environment, then run pytest (warnings are errors), mypy --strict over the stubs and tests, and
# stubtest against the installed module; then pytest again on CPython 3.9 with the same abi3 wheel.
# Exits non-zero when anything fails.
#
# The tools (pinned in python/requirements-test*.txt) are installed once, by tests/install-deps.sh,
# into the virtual environments of python/venvs.sh; this suite installs only the wheel it builds.
# The wheel is built with the default dev profile in the shared target dir, so the core crate's
# dev artifacts are reused; only the binding crate is compiled. Nothing is written into the
# source tree except __pycache__ (ignored by git).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/venvs.sh"
WHEELS="$ROOT/target/py-wheels"

step() { printf '\n== %s\n' "$*"; }

command -v cargo >/dev/null || { echo "python/run-tests.sh: needs cargo (rustup)" >&2; exit 1; }
if ! venv_ready "$VENV" "$REQUIREMENTS"; then
    echo "python/run-tests.sh: ${VENV#"$ROOT"/} lacks the tools of ${REQUIREMENTS#"$ROOT"/} (run tests/install-deps.sh)" >&2
    exit 1
fi

step "building the wheel (dev profile, shared target dir)"
rm -rf "$WHEELS"
"$VENV/bin/maturin" build --quiet -m "$PY_DIR/Cargo.toml" --out "$WHEELS" --interpreter "$VENV/bin/python"
WHEEL=("$WHEELS"/scoutlb-*-cp39-abi3-*.whl)
[ -f "${WHEEL[0]}" ] || { echo "python/run-tests.sh: no abi3 wheel was built" >&2; exit 1; }
echo "${WHEEL[0]#"$ROOT"/}"
install_wheel() {
    "$1/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --no-index --force-reinstall "${WHEEL[0]}"
}
install_wheel "$VENV"

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

step "mypy --strict (stubs, tests, benches and the Python examples)"
rm -rf "$VENV/mypy-cache"
(cd "$PY_DIR" && "$VENV/bin/python" -m mypy --strict --cache-dir "$VENV/mypy-cache" scoutlb tests benches ../examples/python) || failed+=(mypy)

step "stubtest"
"$VENV/bin/python" -m mypy.stubtest scoutlb --mypy-config-file "$PY_DIR/pyproject.toml" || failed+=(stubtest)

# abi3: the same wheel must work on the oldest CPython it claims (3.9).
step "pytest on CPython 3.9 with the same abi3 wheel"
if venv_ready "$VENV39" "$REQUIREMENTS39"; then
    install_wheel "$VENV39"
    "$VENV39/bin/python" -m pytest -q -c "$PY_DIR/pyproject.toml" --rootdir "$PY_DIR" -p no:cacheprovider \
        -W error "$PY_DIR/tests" || failed+=(pytest-3.9)
elif [ "${SCOUTLB_TEST_REQUIRE:-}" = 1 ]; then
    echo "python/run-tests.sh: no ${VENV39#"$ROOT"/} for the abi3 check (SCOUTLB_TEST_REQUIRE=1; run tests/install-deps.sh with a CPython 3.9 installed)" >&2
    failed+=(python-3.9-missing)
else
    echo "SKIPPED: abi3 check on CPython 3.9: no ${VENV39#"$ROOT"/} (tests/install-deps.sh makes it when a CPython 3.9 is installed)"
fi

if [ ${#failed[@]} -ne 0 ]; then
    printf '\npython/run-tests.sh: FAILED: %s\n' "${failed[*]}" >&2
    exit 1
fi
printf '\npython/run-tests.sh: all passed\n'
