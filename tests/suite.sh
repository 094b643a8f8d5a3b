# The bookkeeping every suite script shares: counts, step headings, ok/bad/check, the closing line.
# shellcheck shell=bash
passed=0
failed=0
failures=()

# A heading for the next steps.
step() { printf '\n== %s\n' "$*"; }
# Count a check that passed.
ok() { passed=$((passed + 1)); printf 'ok: %s\n' "$*"; }
# Count a check that failed.
bad() { failed=$((failed + 1)); failures+=("$*"); printf 'FAILED: %s\n' "$*"; }
# Run a command; count it as passed or failed under the name $1.
check() {
    local name=$1
    shift
    if "$@"; then ok "$name"; else bad "$name"; fi
}
# The closing line of suite $1, with every failure named; the status says whether all passed.
finish_suite() {
    printf '\n== %s: %d passed, %d failed\n' "$1" "$passed" "$failed"
    for f in "${failures[@]}"; do printf '   failed: %s\n' "$f"; done
    [ "$failed" -eq 0 ]
}
