# mxprobe agent image for Linux MTA hosts: one static binary on scratch. Build with
# scripts/build-images.sh (see controller.Dockerfile for the build context it prepares):
#   agent, ca-certificates.crt, var-lib-mxprobe-agent/
# The CA bundle is the default trust store for verifying probed SMTP certificates.
FROM scratch
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY agent /usr/local/bin/agent
COPY --chown=65532:65532 var-lib-mxprobe-agent/ /var/lib/mxprobe-agent/
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/agent"]
CMD ["run", "--config", "/etc/mxprobe/agent.yaml"]
