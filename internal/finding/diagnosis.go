package finding

import mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"

// Codes that make a diagnosis say only what its evidence proves: empty
// input, slow servers, certificates that are not transport certificates,
// what logs observed, revocation.
const (
	SMTPSlowBanner     Code = "SMTP_SLOW_BANNER"
	CertStoreEmpty     Code = "CERT_STORE_EMPTY"
	CertCANotTransport Code = "CERT_CA_NOT_TRANSPORT"
	LogUnparseable     Code = "LOG_UNPARSEABLE"
	LogSelfSignedSent  Code = "LOG_SELF_SIGNED_CERT_SENT"
	CertRevoked        Code = "CERT_REVOKED"
	CertRevocationUnav Code = "CERT_REVOCATION_UNAVAILABLE"
	LogCertSent        Code = "LOG_CERT_SENT"
)

var diagnosisEntries = []Entry{
	{SMTPSlowBanner, mxv1.Severity_SEVERITY_WARNING, "SMTP greeting too slow",
		"TCP connected but the server's 220 greeting did not arrive (or arrived only in part) within the probe's deadline: a tarpit or greeting delay, connection throttling for the agent's address, or an overloaded server. DNS, routing and firewalls are not implicated.",
		"Check the server's load and anti-spam greeting delay/tarpit settings for the agent's address; raise the probe timeout if the server is merely slow.", ""},
	{CertStoreEmpty, mxv1.Severity_SEVERITY_ERROR, "Certificate store yielded no certificate",
		"The store was read but held no certificate the agent could parse: a wrong path inside an existing directory, files in a format the agent does not read, or the wrong store. Nothing was checked, which is not the same as healthy.",
		"Point the store at what transport reads (windows:LocalMachine\\My, or a snapshot/pemdir copied from it) and check the files are PEM, DER, PKCS#12 or an Export-Clixml of the store.", ""},
	{CertCANotTransport, mxv1.Severity_SEVERITY_INFO, "CA certificate among the server certificates",
		"A CA certificate (basicConstraints CA:TRUE), typically the issuing CA kept next to the server certificate, is in the store. Transport never presents a CA certificate, so its missing key or its validity do not affect mail flow.",
		"Nothing for mail flow. In a Windows personal store (My) it belongs in the Intermediate Certification Authorities store (or Trusted Root for a root).", ""},
	{LogUnparseable, mxv1.Severity_SEVERITY_ERROR, "Protocol logs yielded no parseable row",
		"The protocol log files were read but none of their data lines is an SMTP protocol log row (a different log type in the directory, a damaged or re-encoded copy, a header that does not match the rows). No session was checked, which is not the same as healthy.",
		"Point the agent at the SmtpSend/SmtpReceive ProtocolLog directories of %ExchangeInstallPath%TransportRoles\\Logs and copy the files unchanged (the #Fields header and CSV rows as Exchange writes them).", ""},
	{LogSelfSignedSent, mxv1.Severity_SEVERITY_ERROR, "Protocol log: self-signed certificate sent to Exchange Online",
		"The protocol log shows this server presenting a self-signed certificate (issuer equal to subject in the log's certificate block, e.g. Exchange's default CN=SERVER certificate) in sessions with Exchange Online. Exchange Online does not accept it for hybrid mail: it defers with 450 4.7.320 Certificate validation failed [Message=SubjectMismatch] or 450 4.4.317, or attributes the mail to no connector. The usual cause is a connector without TlsCertificateName falling back to the self-signed certificate.",
		"Set TlsCertificateName on the connector the log names to the CA-issued certificate the hybrid configuration uses: $c = Get-ChildItem Cert:\\LocalMachine\\My\\THUMBPRINT ; Set-ReceiveConnector (or Set-SendConnector) -Identity CONNECTOR -TlsCertificateName \"<I>$($c.Issuer)<S>$($c.Subject)\". Do not remove the self-signed certificate: Exchange uses it internally.", "E, H"},
	{CertRevoked, mxv1.Severity_SEVERITY_ERROR, "Presented certificate revoked",
		"The OCSP response stapled to the handshake, the OCSP responder named in the certificate's Authority Information Access, or its issuer's CRL lists a certificate of the chain the endpoint presented as revoked (re-keyed, key compromise, superseded). Peers that check revocation refuse the chain: Exchange Online, and Exchange with TlsAuthLevel CertificateValidation or DomainValidation.",
		"On the server behind the endpoint install a new certificate from the CA (re-key or re-issue), Enable-ExchangeCertificate -Thumbprint NEW -Services SMTP, point TlsCertificateName at it, then remove the revoked one; for a revoked intermediate install the CA's current intermediate in LocalMachine\\CA.", ""},
	{CertRevocationUnav, mxv1.Severity_SEVERITY_WARNING, "Revocation status cannot be checked",
		"A certificate of the presented chain names OCSP responders or CRL distribution points, but none gave the agent a usable answer within the deadline (connection refused or timed out, HTTP error, a stale, unverifiable or 'unknown' answer). Whether it is revoked is not known. Edge servers in a DMZ often cannot reach these URLs: a server that cannot fails TLS with partners whose connectors require a revocation check.",
		"Allow HTTP (usually port 80) from the Exchange server, or through its proxy (netsh winhttp show proxy), to the URLs the finding names, then probe again; if only the agent's host is blocked, allow it there.", ""},
	{LogCertSent, mxv1.Severity_SEVERITY_INFO, "Protocol log: the certificate a connector presents",
		"The protocol log shows a connector presenting, in its most recent sessions, a certificate other than the one the selection simulation says transport picks (a store order that differs from the copy read, a cached choice, another build's rule). It is recorded so the connector findings follow what transport does; on its own it is not a problem.",
		"Nothing on its own; the connector findings it corrects say what to do.", ""},
}

func init() { entries = append(entries, diagnosisEntries...) }
