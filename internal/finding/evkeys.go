package finding

// Evidence keys shared by connector, log and queue findings, whichever
// package raises them (internal/certdiag, internal/agent/diagnose); the
// root-cause linker (internal/agent/diagnose/rootcause.go) joins findings on
// them.
const (
	EvConnector         = "connector"
	EvConnectorKind     = "connector_kind"
	EvSelected          = "selected_thumbprint"
	EvKeyless           = "keyless_thumbprints"
	EvCandidates        = "candidate_thumbprints"
	EvThumbprintSent    = "thumbprint_sent"
	EvExpected          = "expected_thumbprint"
	EvStatus            = "sspi_status"
	EvRemoteHosts       = "remote_endpoints"
	EvRemoteNames       = "remote_names"
	EvDirection         = "direction"
	EvAddressSpaces     = "address_spaces"
	EvSmartHosts        = "smart_hosts"
	EvNextHop           = "next_hop"
	EvReplies           = "replies"
	EvSignatures        = "signatures"
	EvTLSCertName       = "tls_certificate_name"
	EvSubjectOnly       = "subject_only_matches"
	EvDuplicateKeyless  = "without_usable_key"
	EvDuplicateThumbs   = "thumbprints"
	EvPredicted         = "predicted"
	EvSelectionRule     = "rule"
	EvSelectionByRule   = "by_rule"
	EvSelectionFlags    = "flags"
	EvSelectionBasis    = "basis"
	EvSelectionExplains = "explanation"
	EvIneligible        = "ineligible_thumbprints"
	EvServerName        = "server_name"
	EvServerFqdn        = "server_fqdn"
)
