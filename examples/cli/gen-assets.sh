#!/usr/bin/env bash
# Writes the man page and the shell completions of the scoutlb CLI, generated from its clap
# definition (examples/cli/src/args.rs) by the crate's `gen-assets` example:
#
#   bash examples/cli/gen-assets.sh OUTDIR
#
# OUTDIR/scoutlb.1     man page (section 1)
# OUTDIR/scoutlb.bash  bash completion
# OUTDIR/_scoutlb      zsh completion
# OUTDIR/scoutlb.fish  fish completion
#
# Works from a fresh clone: it builds the example with cargo (debug profile, the workspace's
# target folder). The man page's date is $SOURCE_DATE_EPOCH, else the date of the checkout's
# last commit, so the same commit gives the same page.
set -euo pipefail

if [[ $# -ne 1 || -z $1 ]]; then
    echo "usage: bash examples/cli/gen-assets.sh OUTDIR" >&2
    exit 2
fi
mkdir -p -- "$1"
out=$(cd -- "$1" && pwd)
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"

if [[ -z ${SOURCE_DATE_EPOCH:-} ]] && epoch=$(git log -1 --format=%ct 2>/dev/null) && [[ -n $epoch ]]; then
    export SOURCE_DATE_EPOCH=$epoch
fi
cargo run --quiet -p scoutlb-cli --example gen-assets -- "$out" >/dev/null
echo "wrote $out/scoutlb.1 $out/scoutlb.bash $out/_scoutlb $out/scoutlb.fish"
