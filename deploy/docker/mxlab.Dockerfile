# mxlab image: the lab SMTP servers with broken TLS (cmd/mxlab) for the compose lab and the
# container fault tests. One static binary on scratch; build with scripts/build-images.sh, which
# prepares this build context:
#   mxlab            the static linux binary
#   var-lib-mxlab/   an empty directory (owned by uid 65532): the lab CA is written there
# A lab tool: it never accepts mail, and belongs on a lab network only.
FROM scratch
COPY mxlab /usr/local/bin/mxlab
# A fresh named volume mounted here copies this owner, so the non-root process can write the CA
# that agents mount read-only.
COPY --chown=65532:65532 var-lib-mxlab/ /var/lib/mxlab/
USER 65532:65532
EXPOSE 2525 2526 2527
ENTRYPOINT ["/usr/local/bin/mxlab"]
CMD ["--ca-out", "/var/lib/mxlab/ca.pem", "--serve", "expired=:2525", "--serve", "no-starttls=:2526", "--serve", "good=:2527"]
