#!/usr/bin/env bash
# Builds mxprobe's release binaries and container images on this machine, with no registry:
#   dist/<version>/controller-linux-{amd64,arm64}, agent-linux-{amd64,arm64}, agent-windows-amd64.exe
#   docker images mxprobe-controller:$TAG and mxprobe-agent:$TAG (FROM scratch, uid 65532), and
#   mxprobe-mxlab:$TAG, the lab SMTP servers of the compose lab (cmd/mxlab; image only, not released)
#
#   scripts/build-images.sh                 # everything, tag "dev"
#   TAG=1.2.0 VERSION=v1.2.0 scripts/build-images.sh
#   scripts/build-images.sh --images-only   # host-arch binaries + images (what the compose lab needs)
#   scripts/build-images.sh --binaries-only # cross-builds into dist/ only (no docker)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

TAG="${TAG:-dev}"
VERSION="${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}"
CA_BUNDLE="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
images=1 binaries=1
case "${1:-}" in
  --images-only) binaries=0 ;;
  --binaries-only) images=0 ;;
  "") ;;
  *) echo "usage: $0 [--images-only|--binaries-only]" >&2; exit 2 ;;
esac

COMMIT="${COMMIT:-$(git rev-parse HEAD 2>/dev/null || true)}"
# The commit's date, not the wall clock, so the build stays reproducible.
BUILD_DATE="${BUILD_DATE:-$(git log -1 --format=%cI 2>/dev/null || true)}"
pkg=github.com/mxprobe/mxprobe/internal/version
ldflags="-s -w -X $pkg.Version=${VERSION} -X $pkg.Commit=${COMMIT} -X $pkg.BuildDate=${BUILD_DATE}"

# build CMD GOOS GOARCH OUT: a static, reproducible (trimpath) binary stamped with VERSION.
build() {
  echo "build $1 $2/$3 -> $4"
  CGO_ENABLED=0 GOOS="$2" GOARCH="$3" go build -trimpath -ldflags "$ldflags" -o "$4" "./cmd/$1"
}

if [[ $binaries == 1 ]]; then
  dist="dist/${VERSION}"
  mkdir -p "$dist"
  for arch in amd64 arm64; do
    build controller linux "$arch" "$dist/controller-linux-$arch"
    build agent linux "$arch" "$dist/agent-linux-$arch"
  done
  build agent windows amd64 "$dist/agent-windows-amd64.exe"
  (cd "$dist" && sha256sum -- * > SHA256SUMS)
  echo "binaries in $dist"
fi

if [[ $images == 1 ]]; then
  command -v docker >/dev/null || { echo "docker not found" >&2; exit 1; }
  [[ -r $CA_BUNDLE ]] || { echo "CA bundle $CA_BUNDLE not readable (apt-get install ca-certificates)" >&2; exit 1; }
  ctx="$(mktemp -d)"
  trap 'rm -rf "$ctx"' EXIT
  hostarch="$(go env GOARCH)"
  for name in controller agent mxlab; do
    mkdir -p "$ctx/$name/var-lib-mxprobe" "$ctx/$name/var-lib-mxprobe-agent" "$ctx/$name/var-lib-mxlab"
    cp "$CA_BUNDLE" "$ctx/$name/ca-certificates.crt"
    build "$name" linux "$hostarch" "$ctx/$name/$name"
    docker build --quiet \
      --label "org.opencontainers.image.version=${VERSION}" \
      --label "org.opencontainers.image.source=https://github.com/mxprobe/mxprobe" \
      -f "deploy/docker/$name.Dockerfile" -t "mxprobe-$name:$TAG" "$ctx/$name" >/dev/null
    echo "image mxprobe-$name:$TAG ($(docker run --rm "mxprobe-$name:$TAG" --version))"
  done
fi
