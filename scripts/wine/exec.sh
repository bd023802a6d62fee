#!/usr/bin/env bash
# Runs a Windows executable under the prefix that prepare.sh made, e.g.
#   GOOS=windows go test -exec scripts/wine/exec.sh ./internal/agent/certread
# (go test runs the .exe with the package directory as working directory.)
set -euo pipefail
env="${MXPROBE_WINE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/bin/wine}/env"
if [ ! -f "$env" ]; then echo "wine: run scripts/wine/prepare.sh first" >&2; exit 1; fi
# shellcheck disable=SC1090
. "$env"
exec "$MXPROBE_WINE" "$@"
