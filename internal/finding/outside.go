package finding

import mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"

// Outside-in codes: what senders see of a mail domain (DNS, DNSSEC, DANE,
// MTA-STS, TLS-RPT) and what they report (docs/outside-in.md).
const (
	DNSLookupFailed           Code = "DNS_LOOKUP_FAILED"
	DNSResolverNotValidating  Code = "DNS_RESOLVER_NOT_VALIDATING"
	DNSSECBogus               Code = "DNSSEC_BOGUS"
	MailDomainNoMX            Code = "MAIL_DOMAIN_NO_MX"
	MXNoAddress               Code = "MX_NO_ADDRESS"
	DANETLSAMismatch          Code = "DANE_TLSA_MISMATCH"
	DANETLSAUnsigned          Code = "DANE_TLSA_UNSIGNED"
	DANETLSAUnusable          Code = "DANE_TLSA_UNUSABLE"
	DANEStartTLSFailed        Code = "DANE_STARTTLS_FAILED"
	DANENDR                   Code = "DANE_NDR"
	DANETLSANextMismatch      Code = "DANE_TLSA_NEXT_MISMATCH"
	DANENextCertUnchecked     Code = "DANE_NEXT_CERT_UNCHECKED"
	MTASTSNoPolicy            Code = "MTASTS_NO_POLICY"
	MTASTSRecordInvalid       Code = "MTASTS_RECORD_INVALID"
	MTASTSPolicyFetchFailed   Code = "MTASTS_POLICY_FETCH_FAILED"
	MTASTSPolicyWebPKIInvalid Code = "MTASTS_POLICY_WEBPKI_INVALID"
	MTASTSPolicyInvalid       Code = "MTASTS_POLICY_INVALID"
	MTASTSMXNotCovered        Code = "MTASTS_MX_NOT_COVERED"
	MTASTSCertNameNotCovered  Code = "MTASTS_CERT_NAME_NOT_COVERED"
	TLSRPTRecordMissing       Code = "TLSRPT_RECORD_MISSING"
	TLSRPTRecordInvalid       Code = "TLSRPT_RECORD_INVALID"
	TLSRPTFailures            Code = "TLSRPT_FAILURES"
	TLSRPTPolicyFailures      Code = "TLSRPT_POLICY_FAILURES"
	TLSRPTReportsStale        Code = "TLSRPT_REPORTS_STALE"
)

var outsideEntries = []Entry{
	{DNSLookupFailed, mxv1.Severity_SEVERITY_WARNING, "DNS lookup failed",
		"The resolver gave no usable answer for a mail domain's record (timeout, SERVFAIL that is not a DNSSEC failure, REFUSED). Nothing is known about that record.",
		"Check that dns_resolver answers from the agent (e.g. Resolve-DnsName NAME -Type TYPE -Server RESOLVER) and that the domain's authoritative servers respond.", ""},
	{DNSResolverNotValidating, mxv1.Severity_SEVERITY_WARNING, "Resolver does not validate DNSSEC",
		"The resolver returned signed answers (RRSIGs) without the AD bit: it does not validate, so no answer can be called secure and DANE cannot be judged.",
		"Point dns_resolver at a validating resolver (Unbound, BIND with dnssec-validation auto, or a public validating resolver).", ""},
	{DNSSECBogus, mxv1.Severity_SEVERITY_CRITICAL, "DNSSEC validation fails",
		"A validating resolver answers SERVFAIL for the record but answers with checking disabled: its signatures do not validate (expired RRSIG, DS that matches no DNSKEY, missing signatures). Validating senders cannot resolve it: Exchange Online defers with 4.7.324 dnssec-invalid (or 4.4.312 DNS query failed).",
		"Re-sign the zone (or fix the DS at the parent so it matches the zone's KSK), then check with: delv @RESOLVER NAME TYPE.", ""},
	{MailDomainNoMX, mxv1.Severity_SEVERITY_WARNING, "Mail domain has no MX",
		"The accepted domain publishes no MX record; senders fall back to its A/AAAA record (RFC 5321 section 5.1), which is rarely a mail server.",
		"Publish the MX records of the domain (e.g. contoso.com. MX 10 mail.contoso.com.).", ""},
	{MXNoAddress, mxv1.Severity_SEVERITY_ERROR, "MX host has no address",
		"An MX host of the domain has neither an A nor an AAAA record; senders skip it.",
		"Publish the MX host's A/AAAA record, or remove the MX record that names it.", ""},
	{DANETLSAMismatch, mxv1.Severity_SEVERITY_CRITICAL, "TLSA records do not match the MX certificate",
		"The MX host's DNSSEC-signed TLSA records (_25._tcp.MX) match no certificate of the chain the MX presents on STARTTLS, typically after a renewal that changed the key. DANE senders (Exchange Online, Google, Postfix with DANE) refuse to deliver: 4.7.323 tlsa-invalid.",
		"Publish a TLSA record for the certificate the MX presents (the finding's expected_tlsa, e.g. 3 1 1 SHA256-of-its-public-key) next to the old one, or bind the certificate the records name; keep both records until the old TTL has passed.", ""},
	{DANETLSAUnsigned, mxv1.Severity_SEVERITY_WARNING, "TLSA records published in an unsigned zone",
		"TLSA records exist for the MX host but their answer is not DNSSEC-validated (the zone is not signed or has no chain of trust): senders ignore them, so DANE is not in effect.",
		"Sign the MX host's zone with DNSSEC and publish its DS at the parent, or remove the TLSA records if DANE is not wanted.", ""},
	{DANETLSAUnusable, mxv1.Severity_SEVERITY_WARNING, "TLSA records unusable for SMTP",
		"The MX host's TLSA records use certificate usage 0 (PKIX-TA) or 1 (PKIX-EE), or unknown parameters: RFC 7672 section 3.1.3 makes SMTP clients ignore them, so the MX gets no DANE authentication.",
		"Publish DANE-EE (3 1 1, SHA-256 of the MX certificate's public key) or DANE-TA (2 1 1, of the issuing CA) records instead.", ""},
	{DANEStartTLSFailed, mxv1.Severity_SEVERITY_ERROR, "MX with TLSA records did not complete STARTTLS",
		"The MX host publishes DNSSEC-signed TLSA records, so DANE senders require STARTTLS, but the live probe could not complete it (not offered, refused or handshake failed): they defer with 4.7.321 starttls-not-supported.",
		"Make the MX offer STARTTLS with its certificate (Exchange: a certificate enabled for SMTP, receive connector AuthMechanism including Tls), then re-check.", ""},
	{DANENDR, mxv1.Severity_SEVERITY_ERROR, "Exchange Online DANE failure in a queue or protocol log",
		"A queue's LastError, or a reply to this server in its Send protocol log, carries an Exchange Online DANE result (4/5.7.321 starttls-not-supported, 4/5.7.322 certificate-expired, 4/5.7.323 tlsa-invalid, 4/5.7.324 dnssec-invalid, 4/5.7.325 certificate-host-mismatch): Exchange Online did not deliver to the destination after DANE validation.",
		"Fix the destination named in the text (its TLSA records, DNSSEC or certificate; ask its administrator when it is not yours), then Retry-Queue.", ""},
	{DANETLSANextMismatch, mxv1.Severity_SEVERITY_WARNING, "TLSA records will not match the renewed certificate",
		"The MX host's DNSSEC-validated TLSA records match the certificate it presents now, but not the renewed certificate for the same names already in a store the agent reads with its key (issued later, a new key): switching to it as things stand makes DANE senders refuse the MX (Exchange Online: 4.7.323 tlsa-invalid). agent preflight --new-cert applies the same rule.",
		"Publish a TLSA record for the next key before switching (the finding's expected_tlsa, 3 1 1 SHA-256 of the renewed certificate's public key) next to the current record, wait at least the record's TTL, then switch; keep the current record until the switch is done.", ""},
	{DANENextCertUnchecked, mxv1.Severity_SEVERITY_INFO, "TLSA not checked against the renewed certificate",
		"A renewed certificate for the MX host is in a store the agent reads, but whether the MX's TLSA records will match it could not be checked: the TLSA lookup failed or the resolver does not validate DNSSEC. Nothing is known about the rollover.",
		"Check the MX's TLSA records through a validating resolver (delv TLSA _25._tcp.MX) and publish the renewed certificate's record (the finding's expected_tlsa) before switching if DANE is in use.", ""},
	{MTASTSNoPolicy, mxv1.Severity_SEVERITY_INFO, "No MTA-STS policy",
		"The domain publishes no _mta-sts TXT record: senders use opportunistic TLS and accept any certificate or none.",
		"Publish an MTA-STS policy (a _mta-sts TXT record with v=STSv1; id=..., and https://mta-sts.DOMAIN/.well-known/mta-sts.txt), starting in mode testing.", ""},
	{MTASTSRecordInvalid, mxv1.Severity_SEVERITY_ERROR, "MTA-STS TXT record invalid",
		"The _mta-sts TXT record does not parse, or there are several STSv1 records: senders ignore the policy.",
		"Publish exactly one record of the form v=STSv1; id=20261201T000000 (id: 1-32 letters or digits).", ""},
	{MTASTSPolicyFetchFailed, mxv1.Severity_SEVERITY_ERROR, "MTA-STS policy cannot be fetched",
		"The _mta-sts record announces a policy but https://mta-sts.DOMAIN/.well-known/mta-sts.txt did not answer 200 (connect failure, HTTP error, redirect). Senders report sts-policy-fetch-error; those without a cached policy send without MTA-STS.",
		"Serve the policy file at that URL (HTTP 200, Content-Type text/plain, no redirect) from the mta-sts host.", ""},
	{MTASTSPolicyWebPKIInvalid, mxv1.Severity_SEVERITY_ERROR, "MTA-STS policy host certificate invalid",
		"The certificate of mta-sts.DOMAIN does not verify against public roots (expired, wrong name, untrusted, missing intermediate). Senders report sts-webpki-invalid and do not use the policy.",
		"Renew or fix the policy host's certificate (it must carry mta-sts.DOMAIN and chain to a public root).", ""},
	{MTASTSPolicyInvalid, mxv1.Severity_SEVERITY_ERROR, "MTA-STS policy invalid",
		"The policy file does not parse (version, mode, max_age, mx lines) or is not text/plain: senders report sts-policy-invalid.",
		"Fix the policy file: version: STSv1, mode: enforce|testing|none, mx: one line per MX pattern, max_age: seconds (at most 31557600).", ""},
	{MTASTSMXNotCovered, mxv1.Severity_SEVERITY_ERROR, "MX not covered by the MTA-STS policy",
		"An MX host of the domain matches none of the policy's mx: patterns. In mode enforce senders will not deliver to it (they defer, and fail over to other MX only if those match): CRITICAL; in mode testing they report it: WARNING.",
		"Add an mx: line for the host to the policy, change the policy id in the _mta-sts record so senders refetch it, or point the MX at a covered host.", ""},
	{MTASTSCertNameNotCovered, mxv1.Severity_SEVERITY_WARNING, "MX certificate name not covered by the MTA-STS policy",
		"The MX certificate carries a mail host name that no mx: pattern of the policy matches; pointing an MX record at that name (e.g. after a migration) would make enforce-mode senders defer.",
		"Add an mx: line for the name to the policy (and change the policy id), or leave it if the name is never used as an MX.", ""},
	{TLSRPTRecordMissing, mxv1.Severity_SEVERITY_INFO, "No TLS-RPT record",
		"The domain publishes no _smtp._tls TXT record: senders that fail TLS, DANE or MTA-STS to it tell nobody.",
		"Publish _smtp._tls.DOMAIN TXT \"v=TLSRPTv1; rua=https://CONTROLLER/v1/tlsrpt\" (mxprobe's TLS-RPT listener) or rua=mailto:tlsrpt@DOMAIN.", ""},
	{TLSRPTRecordInvalid, mxv1.Severity_SEVERITY_WARNING, "TLS-RPT record invalid",
		"The _smtp._tls TXT record does not parse (version, rua URIs must be mailto: or https:), or there are several: senders send no reports.",
		"Publish exactly one record v=TLSRPTv1; rua=mailto:ADDRESS or rua=https://HOST/PATH.", ""},
	{TLSRPTFailures, mxv1.Severity_SEVERITY_ERROR, "Senders report failed TLS sessions to an MX",
		"TLS-RPT reports (RFC 8460) from other mail systems count sessions to this MX that failed, with the result type they saw (certificate-expired, certificate-host-mismatch, tlsa-invalid, starttls-not-supported, ...). It is the senders' view; the linked agent findings say why. CRITICAL when the domain's reports count no successful session; WARNING at most once the reports stopped (aged: what was last known).",
		"Fix the cause the result type names on that MX (the incident's root cause when agents see it), then watch the next day's reports.", ""},
	{TLSRPTPolicyFailures, mxv1.Severity_SEVERITY_ERROR, "Senders report policy failures for a domain",
		"TLS-RPT reports count sessions that failed before reaching an MX: the MTA-STS policy could not be fetched or used (sts-policy-fetch-error, sts-policy-invalid, sts-webpki-invalid), or DNSSEC/DANE failed for the domain.",
		"Fix the domain's MTA-STS policy host or DNSSEC as the result type names (mxprobe's MTASTS_* and DNSSEC_* findings for the domain say what is wrong).", ""},
	{TLSRPTReportsStale, mxv1.Severity_SEVERITY_INFO, "TLS-RPT reports for a domain stopped",
		"No TLS-RPT report for the policy domain ended within the report window plus tlsrpt.stale_grace (72 h by default): senders report daily, so the reports stopped coming (or stopped reaching mxprobe). The domain's report findings are aged: failures are kept as what was last known, at WARNING, and nothing counts as clean; the senders' view is unknown, not healthy.",
		"Check that the domain's _smtp._tls record is still published and that its rua reaches mxprobe (the TLS-RPT listener, or the mailbox whose reports are imported); check the MX hosts directly in the meantime.", ""},
}

func init() { entries = append(entries, outsideEntries...) }
