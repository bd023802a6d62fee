#!/usr/bin/env bash
# Runs the agent's tests as Windows binaries under Wine (docs/wine.md): the
# crypt32 store backend, key acquisition, the service, Windows file
# semantics and the Event Log reader run for real, next to every other agent
# test compiled for Windows, and the tests of the shared packages the agent
# links (certificate and Exchange models, their rules, the pre-flight, DANE).
# Extra arguments go to `go test`.
#   scripts/wine/test.sh                       # all of ./internal/agent/... and the shared packages
#   scripts/wine/test.sh -run Store ./internal/agent/certread
set -euo pipefail
cd "$(dirname "$0")/../.."
env_file="$(scripts/wine/prepare.sh)"
# shellcheck disable=SC1090
. "$env_file"

# The packages outside internal/agent that the agent links and whose tests ran
# here when they lived under internal/agent (internal/roles keeps them free of
# either role).
shared=(./internal/certstore ./internal/exchange ./internal/certdiag ./internal/preflight ./internal/dane)

# t.TempDir's cleanup fails under Wine 8 (internal/tempdir says why): tests
# of packages that run here use tempdir.New instead.
if bad=$(grep -rnE '\b(t|b|f|tb)\.TempDir\(\)' --include='*_test.go' internal/agent cmd/agent "${shared[@]#./}"); then
  echo "wine: use tempdir.New(t) (internal/tempdir) instead of TempDir() in tests that run under Wine:" >&2
  echo "$bad" >&2
  exit 1
fi

pkgs=()
args=()
for a in "$@"; do
  case "$a" in ./*) pkgs+=("$a") ;; *) args+=("$a") ;; esac
done
[ ${#pkgs[@]} -gt 0 ] || pkgs=(./internal/tempdir "${shared[@]}" ./internal/agent/... ./cmd/agent)

# Skipped here, with the reason:
# - TestFiveHundredConcurrentProbesBoundedMemory: 500 simultaneous TLS
#   handshakes through Wine's socket emulation on 2 cores take longer than
#   the probes' own 30 s deadline (measured: 245 of 500 timed out); it
#   measures the probe's memory, which the Linux run covers.
skip='^TestFiveHundredConcurrentProbesBoundedMemory$'

# One wineserver for the whole run, with Wine's own processes (services.exe,
# winedevice.exe, explorer.exe) started before any test binary and detached
# from go test's output. Otherwise the first test binary's wine starts them,
# they inherit that package's stdout and live as long as other packages keep
# the server busy, and go test fails a package that passed with "Test I/O
# incomplete 1m0s after exiting".
"$MXPROBE_WINESERVER" -k 2>/dev/null || true
"$MXPROBE_WINESERVER" -p </dev/null >/dev/null 2>&1
"$MXPROBE_WINE" wineboot </dev/null >/dev/null 2>&1 || true
status=0
GOOS=windows GOARCH=amd64 go test -count=1 -timeout 10m -exec "$PWD/scripts/wine/exec.sh" \
  -skip "$skip" ${args[@]+"${args[@]}"} "${pkgs[@]}" || status=$?
"$MXPROBE_WINESERVER" -k 2>/dev/null || true
exit $status
