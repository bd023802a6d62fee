#!/usr/bin/env bash
# The compose lab in one command (docs/deploy.md):
#   deploy/compose/lab.sh up       build the images (scripts/build-images.sh --images-only), start the lab,
#                                  wait for a raft leader and print the cluster status
#   deploy/compose/lab.sh status   cluster status and findings through the published REST API
#   deploy/compose/lab.sh down     stop and delete everything, volumes included
# MXPROBE_LAB_HTTP_1..3 (17401..17403) and MXPROBE_LAB_GRPC (17400) move the published ports;
# MXPROBE_LAB_INTERVAL / MXPROBE_LAB_JITTER (30s / 5s) set how often the agents run their checks.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
project="${COMPOSE_PROJECT_NAME:-mxprobe-lab}"
http="127.0.0.1:${MXPROBE_LAB_HTTP_1:-17401}"

# Either the compose plugin or the standalone docker-compose binary.
if docker compose version >/dev/null 2>&1; then compose=(docker compose); else compose=(docker-compose); fi
dc() { "${compose[@]}" -p "$project" -f "$here/docker-compose.yml" "$@"; }

status() {
  curl -fsS "http://$http/v1/cluster/status"; echo
  curl -fsS "http://$http/v1/findings?stale=true"; echo
}

case "${1:-}" in
  up)
    TAG="${MXPROBE_TAG:-dev}" "$here/../../scripts/build-images.sh" --images-only
    dc up -d
    for _ in $(seq 60); do
      if curl -fsS "http://$http/readyz" >/dev/null 2>&1; then status; exit 0; fi
      sleep 1
    done
    echo "no leader after 60s; logs:" >&2; dc logs --tail=50 >&2; exit 1 ;;
  status) status ;;
  down) dc down -v --remove-orphans ;;
  *) echo "usage: $0 up|status|down" >&2; exit 2 ;;
esac
