# mxprobe controller image: one static binary on scratch (no shell, no package manager).
# Build with scripts/build-images.sh, which compiles the binary with the local Go toolchain
# (CGO_ENABLED=0, version stamped) and prepares this build context:
#   controller                  the static linux binary
#   ca-certificates.crt         the host's CA bundle
#   var-lib-mxprobe/            an empty directory (owned by uid 65532 in the image)
# No FROM golang: there is no registry here, and the binary is built reproducibly outside.
FROM scratch
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY controller /usr/local/bin/controller
# A fresh named volume copies this directory's owner, so the non-root process can write its
# raft data there without an init step.
COPY --chown=65532:65532 var-lib-mxprobe/ /var/lib/mxprobe/
USER 65532:65532
# 7400 gRPC (agents, API), 7401 HTTP (REST, health, metrics), 7402 raft (controllers only).
EXPOSE 7400 7401 7402
ENTRYPOINT ["/usr/local/bin/controller"]
CMD ["run", "--config", "/etc/mxprobe/controller.yaml"]
