// Package renewal runs the renewal pre-flight (internal/preflight)
// across the fleet, on what agents last reported: for every agent whose
// Exchange connector check sent its connector inventory and the listing
// (with DER) of the stores transport reads, it rebuilds preflight.Input and
// calls preflight.Run, so the prediction is the one `agent preflight` makes
// on that server. Agents not seen for the stale threshold keep their
// prediction but their connectors' outcome is "stale", never "works";
// agents that report no inventory are listed as such.
//
// On top it checks what no single server can: in hybrid, every Edge server
// that sends to or receives from Exchange Online must use a certificate
// with the same issuer and subject (the HCW's one TlsCertificateName), so
// importing the new certificate on some Edge servers only, or one whose
// issuer or subject differs from the others', breaks.
//
// The package does no I/O: the API (internal/controller/api) passes the
// store's agents and results and the parsed upload.
package renewal
