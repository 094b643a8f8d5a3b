# The Python suite's two virtual environments, in one place: tests/install-deps.sh makes them with
# the pinned tools of python/requirements-test*.txt, python/run-tests.sh uses them.
# shellcheck shell=bash

PY_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$PY_DIR")
PYTHON=${PYTHON:-python3}
# maturin, pytest, mypy and auditwheel on $PYTHON (3.9 or newer).
VENV=$ROOT/target/py-test-venv
REQUIREMENTS=$PY_DIR/requirements-test.txt
# pytest on CPython 3.9, to run the same abi3 wheel on the oldest Python it claims.
VENV39=$ROOT/target/py-test-venv-3.9
REQUIREMENTS39=$PY_DIR/requirements-test-3.9.txt

# Prints a CPython 3.9 interpreter (on PATH or under pyenv); fails when there is none.
find_python39() {
    local candidate
    for candidate in python3.9 "$(pyenv root 2>/dev/null)"/versions/3.9*/bin/python3.9; do
        if [ -n "$candidate" ] &&
            "$candidate" -c 'import sys, venv; sys.exit(sys.version_info[:2] != (3, 9))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

# Whether the virtual environment $1 holds what the requirements file $2 pins (its stamp is the
# file's hash, written once the install succeeded).
venv_ready() {
    [ -x "$1/bin/python" ] && [ "$(cat "$1/.requirements" 2>/dev/null)" = "$(sha256sum <"$2")" ]
}

# (Re)make the virtual environment $1 with interpreter $2 and install the requirements file $3.
make_venv() {
    rm -rf "$1"
    "$2" -m venv "$1" &&
        "$1/bin/python" -m pip install --quiet --disable-pip-version-check -r "$3" &&
        sha256sum <"$3" >"$1/.requirements"
}
