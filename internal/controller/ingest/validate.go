package ingest

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/thumbprint"
)

// Limits on what an agent may send. Together with the gRPC message size
// limit they bound what one batch can cost the cluster (raft entry, FSM
// memory, snapshot size). Every field that reaches raft state is checked.
const (
	maxIDLen             = 128
	maxResultsPerBatch   = 4096
	maxFindingsPerResult = 256
	maxFindingsPerBatch  = 8192
	maxEvidence          = 64
	maxLabels            = 64
	maxRefs              = 64
	maxCertificates      = 1000 // per certificate-store result
	maxCertsPerBatch     = 8192
	maxShort             = 256  // check, code, evidence keys, label keys
	maxMedium            = 1024 // target, subject, hostname
	maxLong              = 8192 // summary, remediation, evidence values, error
	// An Exchange connector check's inventory document and its listing's
	// DER (internal/agent/checks.Connectors.RunExchange).
	maxInventoryDocument = 256 << 10
	maxDER               = 16 << 10
	maxDERPerResult      = 512 << 10
)

func validateHello(h *mxv1.Hello) error {
	if h == nil {
		return errors.New("the first message must be Hello")
	}
	if err := validID("agent_id", h.GetAgentId()); err != nil {
		return err
	}
	if err := text("site", h.GetSite(), maxIDLen); err != nil {
		return err
	}
	if err := text("hostname", h.GetHostname(), 255); err != nil {
		return err
	}
	if err := text("version", h.GetVersion(), maxIDLen); err != nil {
		return err
	}
	if len(h.GetLabels()) > maxLabels {
		return fmt.Errorf("too many labels (max %d)", maxLabels)
	}
	for k, v := range h.GetLabels() {
		if err := text("label key", k, maxShort); err != nil {
			return err
		}
		if err := text("label value", v, maxMedium); err != nil {
			return err
		}
	}
	if len(h.GetRoles()) > 8 {
		return errors.New("too many roles (max 8)")
	}
	for _, r := range h.GetRoles() {
		if _, ok := mxv1.Role_name[int32(r)]; !ok {
			return fmt.Errorf("unknown role %d", r)
		}
	}
	return nil
}

func validateBatch(b *mxv1.ResultBatch) error {
	if b.GetSeq() == 0 {
		return errors.New("batch seq must be > 0")
	}
	if len(b.GetResults()) > maxResultsPerBatch {
		return fmt.Errorf("batch has %d results (max %d)", len(b.GetResults()), maxResultsPerBatch)
	}
	total, certs := 0, 0
	for i, r := range b.GetResults() {
		if err := validateResult(r); err != nil {
			return fmt.Errorf("result %d: %w", i, err)
		}
		total += len(r.GetFindings())
		certs += len(r.GetCertificates())
	}
	if certs > maxCertsPerBatch {
		return fmt.Errorf("batch lists %d certificates (max %d)", certs, maxCertsPerBatch)
	}
	if total > maxFindingsPerBatch {
		return fmt.Errorf("batch has %d findings (max %d)", total, maxFindingsPerBatch)
	}
	return nil
}

func validateResult(r *mxv1.CheckResult) error {
	if r == nil {
		return errors.New("empty result")
	}
	if r.GetCheck() == "" {
		return errors.New("check is required")
	}
	if err := text("check", r.GetCheck(), maxShort); err != nil {
		return err
	}
	if err := text("target", r.GetTarget(), maxMedium); err != nil {
		return err
	}
	if err := text("error", r.GetError(), maxLong); err != nil {
		return err
	}
	if err := text("tls.version", r.GetTls().GetVersion(), maxShort); err != nil {
		return err
	}
	if err := text("tls.cipher_suite", r.GetTls().GetCipherSuite(), maxShort); err != nil {
		return err
	}
	if _, ok := mxv1.CheckStatus_name[int32(r.GetStatus())]; !ok {
		return fmt.Errorf("unknown status %d", r.GetStatus())
	}
	if len(r.GetFindings()) > maxFindingsPerResult {
		return fmt.Errorf("%d findings (max %d)", len(r.GetFindings()), maxFindingsPerResult)
	}
	for i, f := range r.GetFindings() {
		if err := validateFinding(f); err != nil {
			return fmt.Errorf("finding %d: %w", i, err)
		}
	}
	if r.GetCertificatesUnchanged() && len(r.GetCertificates()) > 0 {
		return errors.New("certificates_unchanged with a listing")
	}
	if len(r.GetCertificates()) > maxCertificates {
		return fmt.Errorf("%d certificates (max %d)", len(r.GetCertificates()), maxCertificates)
	}
	if r.GetExchangeInventoryUnchanged() && len(r.GetExchangeInventory()) > 0 {
		return errors.New("exchange_inventory_unchanged with an inventory")
	}
	if len(r.GetExchangeInventory()) > maxInventoryDocument {
		return fmt.Errorf("exchange_inventory of %d bytes (max %d)", len(r.GetExchangeInventory()), maxInventoryDocument)
	}
	der := 0
	for i, c := range r.GetCertificates() {
		if err := validateCertificate(c); err != nil {
			return fmt.Errorf("certificate %d: %w", i, err)
		}
		der += len(c.GetDer())
	}
	if der > maxDERPerResult {
		return fmt.Errorf("certificates carry %d bytes of DER (max %d)", der, maxDERPerResult)
	}
	return nil
}

func validateCertificate(c *mxv1.CertificateSummary) error {
	if c == nil {
		return errors.New("empty certificate")
	}
	if tp := c.GetThumbprint(); !thumbprint.Valid(tp) {
		return fmt.Errorf("thumbprint %q is not 40 upper-case hex digits", clip(tp))
	}
	for _, v := range [...]field{{"subject", c.GetSubject(), maxMedium + 3}, {"issuer", c.GetIssuer(), maxMedium + 3}, {"serial", c.GetSerial(), maxShort},
		{"key_status", c.GetKeyStatus(), 16}, {"store", c.GetStore(), maxMedium + 3}, {"friendly_name", c.GetFriendlyName(), maxShort + 3}} {
		if err := text(v.name, v.s, v.max); err != nil {
			return err
		}
	}
	if len(c.GetDer()) > maxDER {
		return fmt.Errorf("der of %d bytes (max %d)", len(c.GetDer()), maxDER)
	}
	switch c.GetTransportKeyAccess() {
	case "", "readable", "denied":
	default:
		return fmt.Errorf("transport_key_access %q: want readable, denied or empty", clip(c.GetTransportKeyAccess()))
	}
	if len(c.GetDnsNames()) > 32 || len(c.GetServices()) > 16 {
		return errors.New("more than 32 DNS names or 16 services")
	}
	for _, names := range [...][]string{c.GetDnsNames(), c.GetServices()} {
		for _, v := range names {
			if err := text("name", v, maxShort+3); err != nil {
				return err
			}
		}
	}
	return nil
}

// field is a text field to check: its name in errors, value and bound.
// (Checked from an array: a map literal built and ranged over per finding
// was most of the time validation took.)
type field struct {
	name string
	s    string
	max  int
}

func validateFinding(f *mxv1.Finding) error {
	if f == nil {
		return errors.New("empty finding")
	}
	if !upperSnake(f.GetCode()) {
		return fmt.Errorf("code %q is not an upper-snake finding code", clip(f.GetCode()))
	}
	if _, ok := mxv1.Severity_name[int32(f.GetSeverity())]; !ok {
		return fmt.Errorf("unknown severity %d", f.GetSeverity())
	}
	if _, ok := mxv1.SubjectKind_name[int32(f.GetSubjectKind())]; !ok {
		return fmt.Errorf("unknown subject kind %d", f.GetSubjectKind())
	}
	for _, v := range [...]field{{"subject", f.GetSubject(), maxMedium}, {"summary", f.GetSummary(), maxLong}, {"remediation", f.GetRemediation(), maxLong}} {
		if err := text(v.name, v.s, v.max); err != nil {
			return err
		}
	}
	if len(f.GetEvidence()) > maxEvidence {
		return fmt.Errorf("%d evidence entries (max %d)", len(f.GetEvidence()), maxEvidence)
	}
	for k, v := range f.GetEvidence() {
		if err := text("evidence key", k, maxShort); err != nil {
			return err
		}
		if err := text("evidence value", v, maxLong); err != nil {
			return err
		}
	}
	if len(f.GetExplains())+len(f.GetExplainedBy()) > maxRefs {
		return fmt.Errorf("more than %d finding references", maxRefs)
	}
	for _, refs := range [...][]*mxv1.FindingRef{f.GetExplains(), f.GetExplainedBy()} {
		for _, ref := range refs {
			if !upperSnake(ref.GetCode()) {
				return fmt.Errorf("reference code %q is not an upper-snake finding code", clip(ref.GetCode()))
			}
			if err := text("reference subject", ref.GetSubject(), maxMedium); err != nil {
				return err
			}
		}
	}
	return nil
}

func validID(field, v string) error {
	if v == "" {
		return fmt.Errorf("%s is required", field)
	}
	if len(v) > maxIDLen {
		return fmt.Errorf("%s longer than %d", field, maxIDLen)
	}
	if strings.ContainsFunc(v, func(r rune) bool { return r < 0x21 || r == 0x7f }) || !utf8.ValidString(v) {
		return fmt.Errorf("%s contains spaces, control characters or invalid UTF-8", field)
	}
	return nil
}

// text bounds a free-text field and rejects invalid UTF-8 (proto3 strings
// must be valid UTF-8; protobuf already refuses it on decode, this keeps the
// error explicit) and NUL bytes.
func text(field, v string, max int) error {
	if len(v) > max {
		return fmt.Errorf("%s longer than %d bytes", field, max)
	}
	if !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
		return fmt.Errorf("%s is not valid UTF-8 text", field)
	}
	return nil
}

func upperSnake(s string) bool {
	if len(s) < 3 || len(s) > 64 || s[0] < 'A' || s[0] > 'Z' || s[len(s)-1] == '_' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
