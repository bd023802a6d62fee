package preflight

import (
	"crypto/x509"
	"time"

	"github.com/mxprobe/mxprobe/internal/certdiag"
	"github.com/mxprobe/mxprobe/internal/certstore"
	"github.com/mxprobe/mxprobe/internal/dane"
	"github.com/mxprobe/mxprobe/internal/exchange"
)

// KeySource says where the new certificate's private key comes from.
type KeySource string

// Key sources.
const (
	// KeyFromFile: the key is in the file(s) given (PFX, PEM with key).
	KeyFromFile KeySource = "file"
	// KeyFromRequest: the certificate answers a request created on this
	// server (New-ExchangeCertificate -GenerateRequest); importing the .cer
	// pairs it with the request's key held by the server.
	KeyFromRequest KeySource = "request"
	// KeyNone: no key anywhere; the import leaves a keyless certificate.
	KeyNone KeySource = "none"
)

// ParseKeySource accepts "", file, request, none.
func ParseKeySource(s string) (KeySource, bool) {
	switch KeySource(s) {
	case "", KeyFromFile:
		return KeyFromFile, true
	case KeyFromRequest, KeyNone:
		return KeySource(s), true
	}
	return "", false
}

// TLSA is the published TLSA set of one MX host.
type TLSA struct {
	// Host is the MX host name; the records are at _25._tcp.Host.
	Host string
	// Records are the usable and unusable records found (empty: none published).
	Records []dane.Record
	// Err is why they could not be read ("" when they were).
	Err string
}

// Input is everything one prediction looks at.
type Input struct {
	Config *exchange.Config
	// Store is the store transport reads, in enumeration order.
	Store certstore.Contents
	// New is what ReadFiles found in the renewal's file(s).
	New certstore.Contents
	// KeySource says where the key comes from when New holds none.
	KeySource KeySource
	// NewFile is the file name the plan imports (as given on the command line).
	NewFile string
	// TLSA are the published TLSA sets of this server's MX hosts; nil
	// when no DNS data was given (DANE is then not checked).
	TLSA []TLSA
	// ChainStores are the server's intermediate and root stores
	// (LocalMachine\CA, LocalMachine\Root) the chain check builds from, as
	// read; nil when none was read (the check then says so).
	ChainStores []ChainStore
	// MTASTS are the mail domains' MTA-STS policies as the caller read
	// them (fetched, or patterns given as an override); nil when none were
	// read, and the MTA-STS check is then reported as not checked.
	MTASTS []MTASTSPolicy
	// Requests is the server's store of pending certificate requests
	// (LocalMachine\REQUEST), read when KeySource is KeyFromRequest to
	// prove the key is there; nil when it was not read (the key check is
	// then not done, and the prediction assumes the key the admin states).
	Requests *RequestStore
	// InboundSource names where Config.InboundConnectors came from when
	// not from the inventory itself (a separate Get-InboundConnector
	// export); "" for the inventory.
	InboundSource string
	// SenderNames override the TlsSenderCertificateName values of the
	// inventory's Exchange Online inbound connectors (Config.InboundConnectors)
	// when non-nil.
	SenderNames []SenderName
	Diag        certdiag.Options
}

// ChainStore is one store of issuing certificates as read.
type ChainStore struct {
	URI   string
	Certs []*x509.Certificate
	// Err is why it could not be read ("" when it was).
	Err string
}

// RequestStore is the store of pending certificate requests as read:
// New-ExchangeCertificate -GenerateRequest (and certreq -new) keep the
// request's key there, on a placeholder certificate with the same public
// key, until the CA's answer is imported.
type RequestStore struct {
	URI     string
	Entries []certstore.Certificate
	// Err is why it could not be read ("" when it was).
	Err string
}

// Origin says where an input of the prediction came from.
type Origin string

// Origins.
const (
	// Fetched: read live by the caller (MTA-STS over DNS and HTTPS, TLSA over DNS).
	Fetched Origin = "fetched"
	// FromInventory: the connector inventory (an export or the collector).
	FromInventory Origin = "connector export"
	// FromFlag: given by the admin, overriding what would be read.
	FromFlag Origin = "flag"
)

// MTASTSPolicy is one mail domain's MTA-STS policy as read.
type MTASTSPolicy struct {
	Domain string `json:"domain,omitempty"` // "" for patterns given by flag
	Origin Origin `json:"origin"`
	// Where names the source: the policy URL, or the flag.
	Where string `json:"where,omitempty"`
	// Mode is enforce, testing or none; "" when unknown (patterns by flag).
	Mode string   `json:"mode,omitempty"`
	MX   []string `json:"mx,omitempty"`
	// NoPolicy: the domain publishes no _mta-sts record.
	NoPolicy bool `json:"no_policy,omitempty"`
	// Err is why the policy could not be read ("" when it was).
	Err string `json:"error,omitempty"`
}

// SenderName is a TlsSenderCertificateName the certificate must cover.
type SenderName struct {
	// Connector is the Exchange Online inbound connector's name ("" by flag).
	Connector string `json:"connector,omitempty"`
	Value     string `json:"value"`
	Origin    Origin `json:"origin"`
	Where     string `json:"where,omitempty"`
}

// InputSource is one input of the prediction, where it came from, and
// why it could not be read when it could not.
type InputSource struct {
	Input  string `json:"input"`
	Origin Origin `json:"origin,omitempty"`
	Where  string `json:"where,omitempty"`
	Value  string `json:"value,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Outcome of a connector under the change.
type Outcome string

// Outcomes.
const (
	Works       Outcome = "works"
	Breaks      Outcome = "breaks"
	StillBroken Outcome = "still-broken"
	Fixed       Outcome = "fixed"
)

// State is one connector in one of the three states.
type State struct {
	Selected string `json:"selected,omitempty"` // thumbprint, "" when none
	// Rule that selected it; ByRule lists every applicable rule's choice.
	Rule   exchange.Rule         `json:"rule,omitempty"`
	ByRule []exchange.RuleChoice `json:"by_rule,omitempty"`
	// Codes are the finding codes at ERROR or above the diagnosis raises for
	// this connector and its selected certificate.
	Codes []string `json:"codes,omitempty"`
}

// Connector is the prediction for one connector (or the internal
// transport certificate).
type Connector struct {
	Name string                 `json:"name"` // Exchange Identity spelling
	Kind exchange.ConnectorKind `json:"kind"`
	// Role is FrontendTransport or HubTransport for receive connectors when known.
	Role    string  `json:"role,omitempty"`
	Lookup  string  `json:"lookup,omitempty"` // what the certificate is looked up by
	Today   State   `json:"today"`
	Import  State   `json:"after_import"`
	Removal State   `json:"after_removal"`
	Outcome Outcome `json:"outcome"`
	// NewCodes are codes raised after the change (import or removal) that
	// are not raised today.
	NewCodes []string `json:"new_codes,omitempty"`
	UsesNew  bool     `json:"uses_new_after_import"`
}

// Status of a renewal check.
type Status string

// Check statuses.
const (
	Pass Status = "pass"
	Info Status = "info"
	Warn Status = "warn"
	Fail Status = "fail"
	// NotChecked: an input the check needs could not be read or was not
	// given; the summary says which and why. Never a pass.
	NotChecked Status = "not-checked"
)

// Check is one renewal check.
type Check struct {
	ID     string `json:"id"`
	Status Status `json:"status"`
	// Summary says what was found in one line; Detail what to do.
	Summary string `json:"summary"`
	Detail  string `json:"detail,omitempty"`
}

// Step is one step of the renewal plan.
type Step struct {
	Title string `json:"title"`
	// Commands are PowerShell (or DNS zone lines for TLSA steps).
	Commands []string `json:"commands"`
	// Verify is the check that proves the step worked.
	Verify string `json:"verify"`
}

// CertInfo describes a certificate in the report.
type CertInfo struct {
	Thumbprint string    `json:"thumbprint"`
	Subject    string    `json:"subject"`
	Issuer     string    `json:"issuer"`
	Names      []string  `json:"names"`
	NotBefore  time.Time `json:"not_before"`
	NotAfter   time.Time `json:"not_after"`
	Key        string    `json:"key"`
	// TLSCertificateName is the value to set on connectors for it.
	TLSCertificateName string `json:"tls_certificate_name"`
}

// Report is the whole prediction.
type Report struct {
	Server     string      `json:"server"`
	New        CertInfo    `json:"new_certificate"`
	Replaced   []CertInfo  `json:"replaced,omitempty"`
	Connectors []Connector `json:"connectors"`
	Checks     []Check     `json:"checks"`
	Plan       []Step      `json:"plan"`
	// Inputs lists the names and policies the checks compared the new
	// certificate with and where each came from.
	Inputs []InputSource `json:"inputs"`
	// Breaks is true when a connector breaks or a check fails.
	Breaks bool `json:"breaks"`
}
