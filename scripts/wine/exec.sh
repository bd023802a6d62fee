#!/usr/bin/env bash
# Runs a Windows executable under the prefix that prepare.sh made, e.g.
#   GOOS=windows go test -exec scripts/wine/exec.sh ./internal/agent/certread
# (go test runs the .exe with the package directory as working directory.)
#
# The executable's output goes to a file, copied to ours once it exits: a
# process it started (a test's stand-in child whose TerminateProcess Wine
# lost, a Wine helper process) may inherit the output and outlive it, and
# go test fails a package that passed when its output stays open a minute
# after the test binary exited ("Test I/O incomplete 1m0s after exiting").
# Such a process then holds only the file.
set -euo pipefail
env="${MXPROBE_WINE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/bin/wine}/env"
if [ ! -f "$env" ]; then echo "wine: run scripts/wine/prepare.sh first" >&2; exit 1; fi
# shellcheck disable=SC1090
. "$env"
out="$(mktemp "${TMPDIR:-/tmp}/mxprobe-wine-out.XXXXXX")"
trap 'rm -f "$out"' EXIT
status=0
"$MXPROBE_WINE" "$@" >"$out" 2>&1 || status=$?
cat "$out"
exit "$status"
