#!/usr/bin/env bash
# Runs mxprobe's tests: everything under ./... with the race detector.
# Installs what some tests need when it is missing and we may (root + apt):
# Postfix for the real-MTA probe tests, Chromium for the dashboard's browser
# test, and h2spec (go install) for the agent endpoint's HTTP/2 conformance.
# Tests that need something absent skip themselves and say why.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v postfix >/dev/null 2>&1 || missing+=(postfix)                      # real-MTA probe tests
command -v chromium >/dev/null 2>&1 || missing+=(chromium fonts-dejavu-core)  # dashboard browser test
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "== installing ${missing[*]} (tests that need them skip otherwise)"
  (export DEBIAN_FRONTEND=noninteractive
   apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null) \
    || echo "   could not install ${missing[*]}; their tests will skip"
fi
# h2spec, the HTTP/2 conformance suite, for the agent endpoint's test (Go module proxy).
if ! command -v h2spec >/dev/null 2>&1; then
  gobin="$(go env GOPATH)/bin"
  # GOFLAGS cleared: h2spec has no go.mod, so its dependencies are resolved (-mod=readonly forbids it).
  if GOFLAGS= GOBIN="$gobin" go install github.com/summerwind/h2spec/cmd/h2spec@v2.2.1+incompatible >/dev/null 2>&1; then
    export PATH="$PATH:$gobin"
  else
    echo "   could not install h2spec; the conformance test will skip"
  fi
fi
go test -race -count=1 -timeout 15m "$@" ./...
# The Helm chart and container tests live in their own module (helm and the
# Kubernetes API types stay out of the product's go.mod). The compose test
# skips itself when no Docker engine answers.
go -C deploy/helm/test test -count=1 -timeout 10m ./...
