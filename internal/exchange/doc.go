// Package exchange models the Exchange-side configuration that decides which
// certificate SMTP STARTTLS uses, decodes it (LoadConfig), and simulates
// Exchange's certificate selection against a certificate store's contents
// (package certstore). It does no collection and links no agent code: the
// agent collects the configuration (internal/agent/exchcollect: PowerShell,
// Export-Clixml files), the controller decodes what agents reported, and
// both simulate the selection here.
//
// # Config
//
// Config holds one server's Get-ExchangeServer, Get-TransportService,
// Get-SendConnector and Get-ReceiveConnector properties. Its JSON form, and the
// raw ConvertTo-Json -Depth 4 cmdlet output the loader also accepts, are
// documented in docs/exchange-inventory.md. A document that records the
// collector's failure (CollectorError) is an error wrapping
// ErrCollectorFailed.
//
// # Selection rules
//
// SimulateSelection returns one Selection per enabled send connector whose
// SourceTransportServers include this server, per enabled receive connector of
// this server, and for the internal transport certificate. Certificates are
// considered in store enumeration order (the order of
// certstore.Contents.Certificates). Sources: Microsoft's documentation of
// how transport picks its certificate (summarised in docs/findings.md), the
// seed incident (docs/architecture.md), KB4495258 (NoCredentials = no private
// key), and Microsoft's 2025 guidance that the latest-expiring match wins.
//
// A Selection is data for other packages to judge: flags, candidates with
// their KeyState and Ineligibility, the choice of each rule. It carries no
// finding codes and no prose; package certdiag decides what is a finding and
// says it (certdiag.ExplainSelection), and the renewal pre-flight
// (internal/preflight) reuses the same API to predict the choice after a
// renewal.
//
//   - Send connector with TlsCertificateName ("<I>issuer<S>subject"):
//     candidates are the certificates whose subject DN and issuer DN match, in
//     store order. Older builds take the FIRST candidate without checking the
//     private key or the dates and cache it until the transport service
//     restarts (RuleFirstMatch, the Selected value); the 2025 guidance takes
//     the latest-expiring one (RuleLatestExpiring). Both appear in ByRule.
//     Flags: Ambiguous when more than one candidate (catalog D), RulesDisagree,
//     SelectedKeyless when a choice under either rule has no usable key
//     (catalog A, the seed incident), SelectedKeyUnreadable when NETWORK
//     SERVICE may not read it (catalog B), SelectedExpired, NotFound when none
//     (catalog C: 454 4.7.5, event 12014), NameInvalid when the value is
//     malformed. SubjectOnlyMatches lists certificates with the right subject
//     but another issuer (renewed through a new intermediate).
//   - Send connector without TlsCertificateName: the name is the connector's
//     Fqdn, else the server FQDN (Basis fqdn / server-fqdn); exact CN/SAN
//     matches first, wildcard ("*.contoso.com", one label) only when no exact
//     match is eligible; then the receive-side eligibility and ranking below
//     (Exchange uses the same FQDN lookup for both directions). NoTLSCertName
//     is set.
//   - Receive connector: the certificate is looked up by TlsCertificateName
//     (issuer+subject), else the connector's Fqdn, else the server FQDN.
//     Eligible = X.509 v3, private key present and usable, readable by the
//     transport account, name in CN or SAN (or DN match for TlsCertificateName).
//     Eligible certificates are sorted by newest NotBefore; the first CA-issued
//     one wins, else the first self-signed one (FellBackToSelfSigned, catalog
//     E/H). Nothing eligible: STARTTLS is not advertised and event 12014 is
//     logged (NotFound, StartTLSNotAdvertised). An expired chosen certificate
//     is still used and STARTTLS still advertised (SelectedExpired, event
//     12016). A TlsCertificateName that matches nothing does not fall back to
//     the FQDN.
//   - Internal transport certificate: InternalTransportCertificateThumbprint
//     must be in the store with a usable key (events 12012/12013/12024 when
//     missing or unloadable; 12015 when expired).
//
// Key usability is read from certstore.Certificate: Key KeyAbsent (or
// KeyUnknown without HasPrivateKey) means no key, KeyUnusable means an unusable
// key, TransportCanReadKey == false means NETWORK SERVICE may not read it;
// KeyUnknown with HasPrivateKey is given the benefit of the doubt.
//
// Not simulated: chain validation (the send-side lookup accepts only
// certificates whose chain validates; certstore does not report chain status
// yet), the per-connector certificate cache of a running transport service,
// and Exchange 2010's HubTransport-on-Mailbox variations.
//
// # Distinguished names
//
// TlsCertificateName values carry Windows-formatted DNs
// ("CN=mail.contoso.com, O=\"Contoso, Ltd.\", C=NL"). They are compared with
// the certificate's actual Issuer/Subject (its DER RDNSequence) as sequences of
// RDNs of (attribute OID, case-folded value) pairs, accepting both orders,
// Windows and RFC 4514 quoting/escaping, keyword aliases (S/ST, E/emailAddress,
// OID.x.y) and #hex values; see DN.Equal.
//
// # Posture
//
// EvaluatePosture reports connector settings that break TLS with Exchange
// Online as typed conditions: receive connectors Exchange Online reaches
// without TlsCertificateName (PostureNoTLSCertName, catalog E), send
// connectors to Exchange Online without RequireTLS or with TlsAuthLevel below
// CertificateValidation (PostureWeakTLSAuth), and receive connectors whose
// AuthMechanism lacks Tls (PostureNoTLSAuthMechanism, catalog K).
package exchange
