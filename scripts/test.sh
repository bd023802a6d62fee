#!/usr/bin/env bash
# Runs mxprobe's tests: everything under ./... with the race detector.
# Installs what some tests need when it is missing and we may (root + apt):
# Postfix for the real-MTA probe tests. Tests that need something absent skip
# themselves and say why.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v postfix >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "== installing postfix (for real-MTA probe tests)"
  (export DEBIAN_FRONTEND=noninteractive
   apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends postfix >/dev/null) \
    || echo "   postfix could not be installed; its tests will skip"
fi
go test -race -count=1 -timeout 15m "$@" ./...
# The Helm chart and container tests live in their own module (helm and the
# Kubernetes API types stay out of the product's go.mod). The compose test
# skips itself when no Docker engine answers.
go -C deploy/helm/test test -count=1 -timeout 10m ./...
