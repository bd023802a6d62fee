#!/usr/bin/env bash
# Runs mxprobe's tests, one Go module at a time, and reports each module's
# result: the product module (everything under ./... with the race detector)
# the Helm chart/container module (deploy/helm/test; helm and the
# Kubernetes API types stay out of the product's go.mod) and the OpenAPI
# module (tools/openapi). Every module runs
# even when an earlier one failed; the exit status is non-zero if any failed.
# Arguments are passed to the product module's `go test` (e.g. -run TestX).
#
# Installs what some tests need when it is missing and we may (root + apt):
# Postfix for the real-MTA probe tests, Chromium for the dashboard's browser
# test, Prometheus (promtool, a real scrape firing the chart's rules) and
# Alertmanager (the notifier's e2e).
# Tests that need something absent skip themselves and say why.
# MXPROBE_TEST_NO_INSTALL=1 installs nothing.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -z "${MXPROBE_TEST_NO_INSTALL:-}" ]; then
  missing=()
  command -v postfix >/dev/null 2>&1 || missing+=(postfix)                      # real-MTA probe tests
  { command -v knotd >/dev/null 2>&1 || [ -x /usr/sbin/knotd ]; } || missing+=(knot)          # DNSSEC lab: signing (internal/lab/dnslab)
  { command -v unbound >/dev/null 2>&1 || [ -x /usr/sbin/unbound ]; } || missing+=(unbound)    # DNSSEC lab: validating resolver
  command -v chromium >/dev/null 2>&1 || missing+=(chromium fonts-dejavu-core)  # dashboard browser test
  command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)                # fleet metrics: promtool + a real scrape
  command -v prometheus-alertmanager >/dev/null 2>&1 || missing+=(prometheus-alertmanager)  # notify e2e against the real Alertmanager
  if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing ${missing[*]} (tests that need them skip otherwise)"
    (export DEBIAN_FRONTEND=noninteractive
     apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null) \
      || echo "   could not install ${missing[*]}; their tests will skip"
  fi
fi

results=()
failed=0
# module NAME COMMAND...: runs one module's tests and records its result.
module() {
  local name=$1 t0=$SECONDS rc
  shift
  echo "== module $name: $*"
  "$@"
  rc=$?
  if [ $rc -eq 0 ]; then
    results+=("ok      $name ($((SECONDS - t0))s)")
  else
    results+=("FAILED  $name ($((SECONDS - t0))s, exit $rc)")
    failed=1
  fi
}

# -timeout bounds each package's test binary: a hung test panics with every
# goroutine's stack after 10m, while the other packages keep running. The
# slowest packages take about 3 min under load (internal/e2e: 485 s for
# -count=3 on 2 cores at load 8-11).
module "github.com/mxprobe/mxprobe (./...)" go test -race -count=1 -timeout 10m "$@" ./...
# The compose test inside skips itself when no Docker engine answers.
module "deploy/helm/test (Helm chart, containers)" go -C deploy/helm/test test -count=1 -timeout 25m ./...
# The OpenAPI 3 document: kin-openapi validation and an oapi-codegen client
# calling a running controller (kin-openapi and oapi-codegen stay out of the
# product's go.mod).
module "tools/openapi (OpenAPI 3, generated client)" go -C tools/openapi test -count=1 -timeout 5m ./...

echo
echo "== results"
printf '   %s\n' "${results[@]}"
exit $failed
