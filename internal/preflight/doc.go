// Package preflight predicts what a certificate renewal does to a server
// before the new certificate is imported anywhere. It adds the new
// certificate to a copy of the server's store contents (as
// Import-ExchangeCertificate would), runs the selection simulation
// (exchange.SimulateSelection) and the diagnosis the agent runs every round
// (certdiag.Connectors, certdiag.CertStoreFor) on three states: today, after
// the import, and after the import with the certificates the renewal
// replaces removed. Per connector it reports the certificate in use in each
// state and whether the change breaks it, with the finding codes the
// diagnosis would raise; it adds the renewal checks (TlsCertificateName,
// key, chain, names, key usage, duplicate identity, old expiry, DANE) and an
// ordered renewal plan with the PowerShell for that server.
//
// The package does no I/O: the caller (agent preflight, or the
// controller's fleet pre-flight in internal/controller/renewal) reads the
// files, the store, the inventory and DNS, so every prediction is testable
// on fixtures. It links no agent code (internal/roles checks it), so the
// controller runs exactly the prediction the agent runs.
package preflight
