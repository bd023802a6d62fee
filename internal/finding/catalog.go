package finding

import (
	"sort"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// Code is a stable upper-snake finding code.
type Code string

// Entry documents one code.
type Entry struct {
	Code     Code
	Severity mxv1.Severity // default severity; a rule may raise or lower it
	Title    string        // what is wrong, in a few words
	Cause    string        // why it happens
	Fix      string        // what to do (the finding's remediation names the exact object)
	Catalog  string        // letter(s) of the Exchange TLS failure catalog, if any
}

const (
	CertNoPrivateKey             Code = "CERT_NO_PRIVATE_KEY"
	CertKeyNotAccessible         Code = "CERT_KEY_NOT_ACCESSIBLE"
	CertDuplicateIdentity        Code = "CERT_DUPLICATE_IDENTITY"
	CertExpired                  Code = "CERT_EXPIRED"
	CertExpiring                 Code = "CERT_EXPIRING"
	CertNotYetValid              Code = "CERT_NOT_YET_VALID"
	CertChainIncomplete          Code = "CERT_CHAIN_INCOMPLETE"
	CertUntrusted                Code = "CERT_UNTRUSTED"
	CertSelfSigned               Code = "CERT_SELF_SIGNED"
	CertWeakKey                  Code = "CERT_WEAK_KEY"
	CertWeakSignature            Code = "CERT_WEAK_SIGNATURE"
	CertNameMismatch             Code = "CERT_NAME_MISMATCH"
	CertStoreUnreadable          Code = "CERT_STORE_UNREADABLE"
	CertEntryUnreadable          Code = "CERT_ENTRY_UNREADABLE"
	ConnectorCertNotFound        Code = "CONNECTOR_CERT_NOT_FOUND"
	ConnectorCertAmbiguous       Code = "CONNECTOR_CERT_AMBIGUOUS"
	ConnectorSelectsKeyless      Code = "CONNECTOR_SELECTS_KEYLESS_CERT"
	ConnectorTLSNameInvalid      Code = "CONNECTOR_TLS_NAME_INVALID"
	ConnectorNoTLSCertName       Code = "CONNECTOR_NO_TLS_CERT_NAME"
	ConnectorWeakTLSAuth         Code = "CONNECTOR_WEAK_TLS_AUTH"
	LogTLSNegotiationFailed      Code = "LOG_TLS_NEGOTIATION_FAILED"
	LogUnexpectedCertSent        Code = "LOG_UNEXPECTED_CERT_SENT"
	LogStartTLSNotOffered        Code = "LOG_STARTTLS_NOT_OFFERED"
	LogTLSCertNotFound           Code = "LOG_TLS_CERT_NOT_FOUND"
	LogStartTLSRequired          Code = "LOG_STARTTLS_REQUIRED"
	QueueTLSFailure              Code = "QUEUE_TLS_FAILURE"
	SMTPUnreachable              Code = "SMTP_UNREACHABLE"
	SMTPStartTLSNotOffered       Code = "SMTP_STARTTLS_NOT_OFFERED"
	SMTPProtocolError            Code = "SMTP_PROTOCOL_ERROR"
	TLSHandshakeFailed           Code = "TLS_HANDSHAKE_FAILED"
	TLSProtocolObsolete          Code = "TLS_PROTOCOL_OBSOLETE"
	TLS12Unsupported             Code = "TLS12_UNSUPPORTED"
	TLSClientCertRejected        Code = "TLS_CLIENT_CERT_REJECTED"
	AgentSilent                  Code = "AGENT_SILENT"
	InternalTransportCertMissing Code = "INTERNAL_TRANSPORT_CERT_MISSING"
	InternalTransportCertKeyless Code = "INTERNAL_TRANSPORT_CERT_KEYLESS"
	AgentSpoolLoss               Code = "AGENT_SPOOL_LOSS"
	EventStartTLSCertNotFound    Code = "EVENT_STARTTLS_CERT_NOT_FOUND"
	EventStartTLSCertExpired     Code = "EVENT_STARTTLS_CERT_EXPIRED"
	EventInternalCertExpired     Code = "EVENT_INTERNAL_CERT_EXPIRED"
	EventCertLoadFailed          Code = "EVENT_CERT_LOAD_FAILED"
	EventInternalCertNotInAD     Code = "EVENT_INTERNAL_CERT_NOT_IN_AD"
	EventSchannelAlert           Code = "EVENT_SCHANNEL_ALERT"
	EventSchannelNoCipher        Code = "EVENT_SCHANNEL_NO_CIPHER"
)

var entries = []Entry{
	{CertNoPrivateKey, mxv1.Severity_SEVERITY_CRITICAL, "Certificate has no private key",
		"A certificate sits in the store without a private key (failed or duplicated request, import of a .cer instead of a .pfx). Exchange transport may still pick it for STARTTLS and then fails with NoCredentials (KB4495258); Get-ExchangeCertificate hides it.",
		"Remove the keyless certificate by thumbprint (Get-ChildItem Cert:\\LocalMachine\\My | ? Thumbprint -eq THUMBPRINT | Remove-Item), restart MSExchangeTransport, Retry-Queue.", "A, D"},
	{CertKeyNotAccessible, mxv1.Severity_SEVERITY_CRITICAL, "Private key present but not usable",
		"The key exists but cannot be acquired, or the transport account (NETWORK SERVICE) cannot read it; transport fails with UnknownCredentials (KB4051498).",
		"Enable-ExchangeCertificate -Thumbprint THUMBPRINT -Services SMTP (grants NETWORK SERVICE read on the key), or re-import the PFX.", "B"},
	{CertDuplicateIdentity, mxv1.Severity_SEVERITY_WARNING, "Several certificates share issuer and subject",
		"A renewal kept the old certificate, or a request was repeated. Send connectors with TlsCertificateName take the first match, which may be the wrong one.",
		"Keep one certificate per issuer+subject: remove the old or keyless ones by thumbprint and make sure the survivor has a private key.", "D"},
	{CertExpired, mxv1.Severity_SEVERITY_CRITICAL, "Certificate expired",
		"NotAfter is in the past. Receive connectors still advertise STARTTLS with it (event 12016), and peers that validate reject it. For a certificate in a store, CRITICAL only where the store binds it to SMTP or a connector could select it; otherwise WARNING (what to check when the connectors were not read; no SMTP change when they show nothing selects it).",
		"Renew the certificate, enable it for SMTP, and re-run the Hybrid Configuration Wizard's \"Update Secure Mail Certificate\" step.", "J"},
	{CertExpiring, mxv1.Severity_SEVERITY_WARNING, "Certificate expires soon",
		"NotAfter is within the warning window (default 30 days warning, 7 days error).",
		"Renew before expiry and update TlsCertificateName on the connectors that use it.", "J"},
	{CertNotYetValid, mxv1.Severity_SEVERITY_ERROR, "Certificate not yet valid",
		"NotBefore is in the future (clock skew or a certificate issued with a future start).",
		"Check the server clock; wait for NotBefore or reissue.", ""},
	{CertChainIncomplete, mxv1.Severity_SEVERITY_ERROR, "Certificate chain incomplete",
		"An intermediate certificate is missing, so peers cannot build a chain (CERT_TRUST_IS_PARTIAL_CHAIN); transport's lookup also rejects invalid chains (event 12014).",
		"Install the issuing intermediate CA certificate in LocalMachine\\CA on the server.", "I"},
	{CertUntrusted, mxv1.Severity_SEVERITY_ERROR, "Certificate not trusted",
		"The chain ends in a root the verifier does not trust (CERT_TRUST_IS_UNTRUSTED_ROOT).",
		"Use a certificate from a public CA for hybrid/Internet mail, or install the root where it must be trusted.", "I, H"},
	{CertSelfSigned, mxv1.Severity_SEVERITY_WARNING, "Self-signed certificate in use",
		"A self-signed certificate is presented or selected. Exchange Online rejects it for hybrid (SubjectMismatch / TenantInboundAttribution).",
		"Use a CA-issued certificate and set TlsCertificateName on the connectors Exchange Online reaches.", "E, H"},
	{CertWeakKey, mxv1.Severity_SEVERITY_ERROR, "Weak certificate key",
		"RSA key under 2048 bits (or EC under 256).",
		"Reissue with RSA 2048+ or ECDSA P-256+.", ""},
	{CertWeakSignature, mxv1.Severity_SEVERITY_ERROR, "Weak certificate signature",
		"Signed with SHA-1 or MD5.",
		"Reissue with a SHA-256 (or stronger) signature.", ""},
	{CertNameMismatch, mxv1.Severity_SEVERITY_ERROR, "Certificate name does not match",
		"Neither CN nor SAN contains the expected host name (SubjectMismatch at Exchange Online).",
		"Issue a certificate whose SAN includes the connector FQDN, or align the connector's Fqdn/TlsCertificateName.", "E, F"},
	{CertStoreUnreadable, mxv1.Severity_SEVERITY_ERROR, "Certificate store unreadable",
		"The store could not be opened or listed.",
		"Check the store location and the agent's rights to read it.", ""},
	{CertEntryUnreadable, mxv1.Severity_SEVERITY_WARNING, "Store entry unreadable",
		"A file or entry in the store is corrupt, truncated, or protected by an unknown password.",
		"Replace or remove the entry; for a password-protected PFX put its password in the agent's pfx_password_file (or MXPROBE_PFX_PASSWORD).", ""},
	{ConnectorCertNotFound, mxv1.Severity_SEVERITY_CRITICAL, "Connector's TlsCertificateName matches no certificate",
		"Renewed or removed certificate, typo, or invalid chain: transport answers 454 4.7.5 and logs event 12014.",
		"Set-SendConnector/Set-ReceiveConnector -TlsCertificateName \"<I>$($c.Issuer)<S>$($c.Subject)\" with the certificate that should be used.", "C"},
	{ConnectorCertAmbiguous, mxv1.Severity_SEVERITY_ERROR, "Connector's TlsCertificateName matches several certificates",
		"Two certificates share the issuer and subject; transport takes the first (older builds) or the latest-expiring one.",
		"Remove all but one certificate for that issuer+subject.", "D"},
	{ConnectorSelectsKeyless, mxv1.Severity_SEVERITY_CRITICAL, "Connector would present a certificate without usable key",
		"Exchange's selection rules land on a certificate whose private key is missing or unusable: STARTTLS fails with NoCredentials/UnknownCredentials.",
		"Remove the keyless certificate by thumbprint (or fix its key), restart MSExchangeTransport.", "A, B"},
	{ConnectorTLSNameInvalid, mxv1.Severity_SEVERITY_ERROR, "Connector TlsCertificateName malformed",
		"TlsCertificateName is not of the form <I>issuer<S>subject.",
		"Set-SendConnector/Set-ReceiveConnector -TlsCertificateName \"<I>$($c.Issuer)<S>$($c.Subject)\".", "C"},
	{ConnectorNoTLSCertName, mxv1.Severity_SEVERITY_WARNING, "Connector has no TlsCertificateName",
		"Without it a receive connector falls back to FQDN matching and may present the self-signed certificate to Exchange Online.",
		"Set TlsCertificateName on every receive connector Exchange Online reaches.", "E"},
	{ConnectorWeakTLSAuth, mxv1.Severity_SEVERITY_WARNING, "Connector TLS settings weaker than hybrid needs",
		"A connector to Exchange Online does not require TLS or validates less than the certificate/domain.",
		"Set-SendConnector -RequireTLS $true -TlsAuthLevel DomainValidation -TlsDomain mail.protection.outlook.com.", ""},
	{LogTLSNegotiationFailed, mxv1.Severity_SEVERITY_ERROR, "Protocol log: TLS negotiation failed",
		"The SMTP protocol log records \"TLS negotiation failed with error <status>\" (NoCredentials: keyless certificate; UnknownCredentials: key unusable; SocketError: TLS version mismatch).",
		"Follow the linked certificate finding; for SocketError enable TLS 1.2 (SCHANNEL and .NET).", "A, B, G"},
	{LogUnexpectedCertSent, mxv1.Severity_SEVERITY_ERROR, "Protocol log: unexpected certificate sent",
		"The certificate transport sent differs from the one the connector should select.",
		"Remove the certificate transport picked by mistake, restart MSExchangeTransport.", "A, D"},
	{LogStartTLSNotOffered, mxv1.Severity_SEVERITY_ERROR, "Protocol log: peer did not offer STARTTLS",
		"The EHLO reply lacked STARTTLS: no eligible certificate on the peer (12014), AuthMechanism without Tls, or a firewall's ESMTP inspection.",
		"Check the peer's certificate and connector, and disable ESMTP inspection on firewalls in the path.", "K"},
	{LogTLSCertNotFound, mxv1.Severity_SEVERITY_CRITICAL, "Protocol log: 454 4.7.5 certificate not found",
		"The send connector's TlsCertificateName names a certificate transport cannot find.",
		"Set-SendConnector -TlsCertificateName with an existing certificate.", "C"},
	{LogStartTLSRequired, mxv1.Severity_SEVERITY_ERROR, "Protocol log: 451 5.7.3 STARTTLS required",
		"The peer requires STARTTLS but the session did not negotiate it.",
		"Fix the TLS failure that prevents STARTTLS (see linked findings).", "G, I"},
	{QueueTLSFailure, mxv1.Severity_SEVERITY_ERROR, "Queue stuck with an error a TLS failure causes",
		"A queue holds messages (ERROR; WARNING when it is in Retry with none) and its LastError matches a failure-catalog signature: TLS-specific replies (454 4.7.5, 451 5.7.3, 421 4.4.2 SocketError, 450 4.7.320, 450 4.4.317, 550 5.7.51) or the connection-level 451 4.4.395 -> 421 4.4.1 Connection timed out / 421 4.2.1 Unable to connect that a local TLS failure produces but a network fault can too; the text says which.",
		"Fix the cause linked to this finding, then Retry-Queue -Identity QUEUE; with no linked cause, the send protocol log of the connector tells a TLS failure from a network fault.", "A, B, G"},
	{SMTPUnreachable, mxv1.Severity_SEVERITY_ERROR, "SMTP endpoint unreachable",
		"TCP connect failed or timed out, or no banner arrived.",
		"Check DNS, routing and firewalls between the agent and the endpoint.", ""},
	{SMTPStartTLSNotOffered, mxv1.Severity_SEVERITY_ERROR, "SMTP endpoint does not offer STARTTLS",
		"EHLO reply without STARTTLS: no eligible certificate (12014), AuthMechanism lacks Tls, or ESMTP inspection strips it.",
		"On Exchange: Enable-ExchangeCertificate -Services SMTP for a certificate matching the connector FQDN; check AuthMechanism includes Tls; disable firewall ESMTP inspection.", "K"},
	{SMTPProtocolError, mxv1.Severity_SEVERITY_ERROR, "SMTP endpoint speaks broken SMTP",
		"The server's replies violate SMTP (over-long lines, endless replies, garbage).",
		"Check what answers on that port (proxy, inspection device, wrong service).", ""},
	{TLSHandshakeFailed, mxv1.Severity_SEVERITY_ERROR, "TLS handshake failed",
		"STARTTLS was accepted but the TLS handshake failed.",
		"Check the server's certificate binding and SCHANNEL protocol settings.", "A, B, G"},
	{TLSProtocolObsolete, mxv1.Severity_SEVERITY_WARNING, "Obsolete TLS version accepted",
		"The endpoint accepts TLS 1.0 or 1.1.",
		"Disable TLS 1.0/1.1 in SCHANNEL once all peers speak TLS 1.2.", "G"},
	{TLS12Unsupported, mxv1.Severity_SEVERITY_CRITICAL, "TLS 1.2 not supported",
		"The endpoint cannot negotiate TLS 1.2 or later; Exchange Online refuses TLS 1.0/1.1.",
		"SCHANNEL TLS 1.2 Client+Server Enabled=1 DisabledByDefault=0; .NET SystemDefaultTlsVersions=1, SchUseStrongCrypto=1.", "G"},
	{TLSClientCertRejected, mxv1.Severity_SEVERITY_ERROR, "Client certificate rejected",
		"The server refused the certificate the agent presented the way the send connector would.",
		"Align the certificate SAN with the partner connector (e.g. TlsSenderCertificateName at Exchange Online).", "F"},
	{InternalTransportCertMissing, mxv1.Severity_SEVERITY_ERROR, "Internal transport certificate missing",
		"InternalTransportCertificateThumbprint is empty or names a certificate that is not in LocalMachine\\My (events 12012, 12013, 12024); anonymous TLS between Exchange servers of the organisation fails.",
		"On the server: New-ExchangeCertificate -Services SMTP (or Enable-ExchangeCertificate -Thumbprint THUMBPRINT -Services SMTP on a certificate for the server FQDN), then Restart-Service MSExchangeTransport.", ""},
	{InternalTransportCertKeyless, mxv1.Severity_SEVERITY_ERROR, "Internal transport certificate has no usable key",
		"The certificate InternalTransportCertificateThumbprint names has no private key, or transport (NETWORK SERVICE) cannot use it (events 12013, 12024).",
		"Replace it: New-ExchangeCertificate -Services SMTP on the server (or re-import the certificate with its key), then Restart-Service MSExchangeTransport.", ""},
	{AgentSpoolLoss, mxv1.Severity_SEVERITY_WARNING, "Agent lost spooled results",
		"Result batches left the agent's spool without reaching the controller: dropped because the spool filled up during an outage, never stored (disk full or I/O error on state_dir), or damaged on disk and not committed. The counts are cumulative since the spool was created (evidence: lost_batches_total, lost_results_total, by cause, lost_since); the finding repeats until the controller acknowledged a batch carrying the current total.",
		"By cause: restore connectivity to the controllers or raise spool_max_bytes (spool full); free space on or repair the disk holding state_dir (not stored, damaged). agent status on the host shows the same counters.", ""},
	{EventStartTLSCertNotFound, mxv1.Severity_SEVERITY_ERROR, "Event 12014: no certificate for a connector's STARTTLS",
		"Transport logged event 12014: no certificate in LocalMachine\\My that contains the name it looks up (the connector's TlsCertificateName, else its FQDN, else the server's) and is eligible (private key readable by NETWORK SERVICE, valid chain), so that connector does not advertise STARTTLS.",
		"Make a certificate for that name eligible (Enable-ExchangeCertificate -Thumbprint THUMBPRINT -Services SMTP), install one, or correct the connector's TlsCertificateName/Fqdn; the linked findings name the certificate.", "C, I, K"},
	{EventStartTLSCertExpired, mxv1.Severity_SEVERITY_ERROR, "Event 12016: the STARTTLS certificate for an FQDN expired",
		"Transport logged event 12016: the only certificate for that FQDN has expired; it still advertises STARTTLS with it, and peers that validate refuse it.",
		"Renew the certificate for the FQDN, Enable-ExchangeCertificate -Thumbprint NEW -Services SMTP, and for hybrid re-run the Hybrid Configuration Wizard's \"Update Secure Mail Certificate\" step.", "J"},
	{EventInternalCertExpired, mxv1.Severity_SEVERITY_ERROR, "Event 12015: the internal transport certificate expired",
		"Transport logged event 12015 naming an expired internal transport certificate (the one InternalTransportCertificateThumbprint names); TLS between the organisation's Exchange servers is affected.",
		"New-ExchangeCertificate -Services SMTP on the server (answer yes to replacing the default SMTP certificate), then Restart-Service MSExchangeTransport.", "J"},
	{EventCertLoadFailed, mxv1.Severity_SEVERITY_ERROR, "Events 12013/12023/12024: transport cannot load a configured certificate",
		"Transport logged that it could not load the certificate with the thumbprint it names from LocalMachine\\My (missing, or its key unusable); with 12024 it fell back to an ephemeral self-signed certificate.",
		"If the certificate is in the store: Enable-ExchangeCertificate -Thumbprint THUMBPRINT -Services SMTP; if not: restore it (Import-ExchangeCertificate) or New-ExchangeCertificate -Services SMTP; then Restart-Service MSExchangeTransport.", "A, B"},
	{EventInternalCertNotInAD, mxv1.Severity_SEVERITY_ERROR, "Event 12012: internal transport certificate not in Active Directory",
		"Transport logged event 12012: the internal transport certificate could not be read from Active Directory (not published, or not yet replicated), so other Exchange servers cannot authenticate this one.",
		"Enable-ExchangeCertificate -Thumbprint THUMBPRINT -Services SMTP for the server's certificate (publishes it), or New-ExchangeCertificate -Services SMTP if there is none; wait for AD replication.", ""},
	{EventSchannelAlert, mxv1.Severity_SEVERITY_WARNING, "Schannel fatal TLS alerts (36887/36888)",
		"Schannel logged fatal TLS alerts this server received (36887) or sent (36888), with the TLS alert code. Schannel serves every TLS user on the server (SMTP, IIS, LDAP, RDP), and the event names neither the service nor the peer, so it is evidence of TLS failures on the host, not proof that mail is affected.",
		"By alert code: 40/70/71 (handshake_failure, protocol_version, insufficient_security): a peer and this server share no protocol or cipher, enable TLS 1.2 on both; 42/45/46/48 (bad_certificate, certificate_expired, certificate_unknown, unknown_ca): a certificate was refused, check the chain of the certificate presented; match the times with protocol logs to find the service.", "G, I"},
	{EventSchannelNoCipher, mxv1.Severity_SEVERITY_WARNING, "Schannel 36874: a client offered no cipher suite this server supports",
		"Schannel logged event 36874: a TLS client's cipher suites are all disabled on this server (often an old client after TLS hardening). The event names neither client nor service.",
		"Find the client (the protocol logs or a trace at the same time), then upgrade it or enable a suite it supports that is still secure; do not re-enable TLS 1.0/1.1 for it without need.", "G"},
	{AgentSilent, mxv1.Severity_SEVERITY_WARNING, "Agent stopped reporting",
		"No results from the agent for longer than its interval allows.",
		"Check the agent service on the server and its network path to the controller.", ""},
}

// Catalog is the set of documented codes.
type Catalog struct{ byCode map[Code]Entry }

// Default returns the built-in catalog.
func Default() *Catalog {
	c := &Catalog{byCode: make(map[Code]Entry, len(entries))}
	for _, e := range entries {
		c.byCode[e.Code] = e
	}
	return c
}

// Lookup returns the entry for a code.
func (c *Catalog) Lookup(code Code) (Entry, bool) {
	e, ok := c.byCode[code]
	return e, ok
}

// Entries returns every entry sorted by code.
func (c *Catalog) Entries() []Entry {
	out := make([]Entry, 0, len(c.byCode))
	for _, e := range c.byCode {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Code < out[j].Code })
	return out
}
