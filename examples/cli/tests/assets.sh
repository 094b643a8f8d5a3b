#!/usr/bin/env bash
# Checks the generated man page and shell completions of scoutlb (examples/cli/gen-assets.sh):
# the man page renders without warnings and has its sections, commands, options and exit codes;
# the bash and fish completions complete the commands and options; the zsh one is registered.
#
#   bash examples/cli/tests/assets.sh
#
# Needs groff (Debian: groff-base); zsh and fish are checked when installed (tests/install-deps.sh
# installs all three). Ends with `== CLI assets: N passed, N failed`; exit status 0 when everything passed.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
out=$(mktemp -d /tmp/scoutlb-assets.XXXXXX)
trap 'rm -rf "$out"' EXIT
source "$repo/tests/suite.sh"
finish() {
    finish_suite "CLI assets"
    exit
}

if bash "$repo/examples/cli/gen-assets.sh" "$out"; then
    ok "gen-assets.sh writes into a new folder"
else
    bad "gen-assets.sh failed"
    finish
fi
for f in scoutlb.1 scoutlb.bash _scoutlb scoutlb.fish; do
    [[ -s $out/$f ]] || bad "$f is missing or empty"
done

# ---------------------------------------------------------------------------------------------
# The man page.
if ! command -v groff >/dev/null; then
    bad "groff is not installed (apt-get install groff-base)"
    finish
fi
warnings=$(groff -man -Tutf8 -ww -z "$out/scoutlb.1" 2>&1)
if [[ -z $warnings ]]; then
    ok "man page: groff reports no warnings"
else
    bad "man page: groff warnings: $warnings"
fi
page=$(MANWIDTH=100 groff -man -Tutf8 -P-cbou "$out/scoutlb.1" 2>/dev/null)
missing=()
for section in NAME SYNOPSIS DESCRIPTION OPTIONS COMMANDS CONFIGURATION ENVIRONMENT SIGNALS "EXIT STATUS" EXAMPLES VERSION; do
    grep -q "^$section\$" <<<"$page" || missing+=("section $section")
done
for word in connect candidates lost servers status "--config <FILE>" "--set <KEY=VALUE>" --retry SCOUTLB_CONFIG \
    --json --verbose --version --help "scoutlb [OPTIONS] <COMMAND>"; do
    grep -qF -- "$word" <<<"$page" || missing+=("$word")
done
for code in 0 1 2 3 4 5 6; do
    grep -qE "^ +$code +[A-Z]" <<<"$page" || missing+=("exit code $code")
done
if [[ ${#missing[@]} -eq 0 ]]; then
    ok "man page: every section, command, option and exit code"
else
    bad "man page lacks: ${missing[*]}"
    echo "$page"
fi
# The CONFIGURATION section lists every key of scoutlb::KEY_TABLE (proto/src/config.rs), each as a
# heading of its own with its default.
keys=$(sed -n 's/^ *name: "\([a-z_]*\)",$/\1/p' "$repo/proto/src/config.rs")
config=$(sed -n '/^CONFIGURATION$/,/^ENVIRONMENT$/p' <<<"$page")
missing=()
for key in $keys; do
    grep -qx " *$key" <<<"$config" || grep -qE "^ +$key +[A-Z\"]" <<<"$config" || missing+=("$key")
done
if [[ -n $keys && ${#missing[@]} -eq 0 && $(tr -s ' \n' '  ' <<<"$config" | grep -o "(default: " | wc -l) -eq $(wc -w <<<"$keys") ]]; then
    ok "man page: CONFIGURATION lists the $(wc -w <<<"$keys") keys of scoutlb::KEYS, each with its default"
else
    bad "man page: CONFIGURATION lacks keys: ${missing[*]:-?} (keys: $(tr '\n' ' ' <<<"$keys"))"
fi
if grep -qF "SCOUTLB(1)" <<<"$page" && grep -qF "scoutlb $(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/Cargo.toml" | head -1)" <<<"$page"; then
    ok "man page: title and version"
else
    bad "man page: title or version missing"
fi
if command -v man >/dev/null; then
    if MANWIDTH=80 man -l "$out/scoutlb.1" 2>&1 | grep -q "EXIT STATUS"; then
        ok "man page: man -l shows it"
    else
        bad "man page: man -l cannot show it"
    fi
fi

# ---------------------------------------------------------------------------------------------
# The bash completion: source it, call its function as `complete -F` would, read COMPREPLY.
# complete_words WORD...: the completions bash offers for the last WORD (the one being typed).
complete_words() {
    bash --norc --noprofile -c '
        source "$1" || exit 1
        shift
        spec=$(complete -p scoutlb) || exit 1
        fn=$(sed -n "s/.*-F \([^ ]*\) .*/\1/p" <<<"$spec")
        COMP_WORDS=(scoutlb "$@")
        COMP_CWORD=$#
        COMP_LINE="scoutlb $*"
        COMP_POINT=${#COMP_LINE}
        prev=${COMP_WORDS[COMP_CWORD-1]}
        "$fn" scoutlb "${COMP_WORDS[COMP_CWORD]}" "$prev"
        printf "%s\n" "${COMPREPLY[@]}"
    ' complete_words "$out/scoutlb.bash" "$@"
}
expect_completions() {
    local label=$1 got want missing=()
    shift 1
    local words=()
    while [[ $1 != -- ]]; do
        words+=("$1")
        shift
    done
    shift
    got=$(complete_words "${words[@]}")
    for want in "$@"; do
        grep -qxF -- "$want" <<<"$got" || missing+=("$want")
    done
    if [[ ${#missing[@]} -eq 0 ]]; then
        ok "bash completion: $label"
    else
        bad "bash completion: $label lacks ${missing[*]} (got: $(tr '\n' ' ' <<<"$got"))"
    fi
}
if bash --norc --noprofile -c 'source "$1" && complete -p scoutlb' _ "$out/scoutlb.bash" | grep -q -- "-F _scoutlb"; then
    ok "bash completion: sourcing it registers a function for scoutlb"
else
    bad "bash completion: sourcing it registers nothing for scoutlb"
fi
expect_completions "the commands after 'scoutlb '" "" -- connect candidates lost servers status help
expect_completions "'scoutlb c' gives connect and candidates" c -- connect candidates
expect_completions "the options of a command" status --j -- --json
expect_completions "global options before a command" --v -- --verbose --version
got=$(complete_words c)
if grep -qx "lost" <<<"$got"; then
    bad "bash completion: 'scoutlb c' also offers lost"
else
    ok "bash completion: 'scoutlb c' offers nothing else"
fi

# ---------------------------------------------------------------------------------------------
# zsh: the script parses and compinit registers it for scoutlb; fish: it completes the commands.
if command -v zsh >/dev/null; then
    if zsh -n "$out/_scoutlb" &&
        [[ $(zsh -fc 'fpath=("$1" $fpath); autoload -U compinit; compinit -u -d "$1/zcompdump"; print -r -- ${_comps[scoutlb]}' _ "$out") == _scoutlb ]]; then
        ok "zsh completion: parses, and compinit registers it for scoutlb"
    else
        bad "zsh completion does not parse or is not registered"
    fi
else
    echo "zsh not installed (tests/install-deps.sh installs it): its completion is not checked"
fi
if command -v fish >/dev/null; then
    got=$(fish --no-config -c 'source $argv[1]; complete -C"scoutlb c"' "$out/scoutlb.fish" | cut -f1 | sort | tr '\n' ' ')
    if [[ $got == "candidates connect " ]]; then
        ok "fish completion: 'scoutlb c' gives candidates and connect"
    else
        bad "fish completion: 'scoutlb c' gives: $got"
    fi
else
    echo "fish not installed (tests/install-deps.sh installs it): its completion is not checked"
fi
finish
