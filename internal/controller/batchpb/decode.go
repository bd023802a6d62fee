package batchpb

import (
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// UnmarshalConnectRequest decodes b into m (reset first) exactly as
// proto.Unmarshal(b, m) does.
func UnmarshalConnectRequest(b []byte, m *mxv1.ConnectRequest) error {
	m.Reset()
	if connectRequestFast(b, m) {
		return nil
	}
	return proto.Unmarshal(b, m)
}

// UnmarshalResultBatch decodes b into m (reset first) exactly as
// proto.Unmarshal(b, m) does.
func UnmarshalResultBatch(b []byte, m *mxv1.ResultBatch) error {
	m.Reset()
	if resultBatch(b, m) {
		return nil
	}
	return proto.Unmarshal(b, m)
}

// UnmarshalCommand decodes b into m (reset first) exactly as
// proto.Unmarshal(b, m) does; only IngestBatches commands take the fast
// path.
func UnmarshalCommand(b []byte, m *mxv1.Command) error {
	m.Reset()
	if command(b, m) {
		return nil
	}
	return proto.Unmarshal(b, m)
}

// Field numbers (proto/mxprobe/v1/agent.proto, command.proto,
// finding.proto; google/protobuf/timestamp.proto, duration.proto).
const (
	connectRequestBatch = 2

	commandProposedAt    = 1
	commandIngestBatches = 3

	ingestBatchesBatches = 1

	agentBatchAgentID = 1
	agentBatchBatch   = 2

	resultBatchSeq       = 1
	resultBatchSentAt    = 2
	resultBatchResults   = 3
	resultBatchSpoolLoss = 4

	checkResultCheck                      = 1
	checkResultTarget                     = 2
	checkResultStatus                     = 3
	checkResultStartedAt                  = 4
	checkResultDuration                   = 5
	checkResultFindings                   = 6
	checkResultError                      = 7
	checkResultCertificates               = 8
	checkResultCertificatesUnchanged      = 9
	checkResultTLS                        = 10
	checkResultExchangeInventory          = 11
	checkResultExchangeInventoryUnchanged = 12

	findingCode        = 1
	findingSeverity    = 2
	findingSubject     = 3
	findingSubjectKind = 4
	findingSummary     = 5
	findingEvidence    = 6
	findingRemediation = 7
	findingExplains    = 8
	findingExplainedBy = 9

	refCode    = 1
	refSubject = 2

	tlsVersion        = 1
	tlsCipherSuite    = 2
	tlsLeafThumbprint = 3

	mapKey   = 1
	mapValue = 2

	secondsField = 1 // Timestamp and Duration
	nanosField   = 2
)

const (
	varint = protowire.VarintType
	bytes  = protowire.BytesType
)

// field is one varint or length-delimited field.
type field struct {
	num protowire.Number
	typ protowire.Type
	u   uint64 // varint value
	v   []byte // length-delimited value, a subslice of the input
}

// next reads the field at the start of b. ok is false for malformed input
// and for the wire types none of the decoded messages use (the caller then
// leaves the message to proto.Unmarshal).
func next(b []byte) (f field, rest []byte, ok bool) {
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 {
		return f, nil, false
	}
	b = b[n:]
	f.num, f.typ = num, typ
	switch typ {
	case varint:
		u, n := protowire.ConsumeVarint(b)
		if n < 0 {
			return f, nil, false
		}
		f.u = u
		return f, b[n:], true
	case bytes:
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return f, nil, false
		}
		f.v = v
		return f, b[n:], true
	}
	return f, nil, false
}

// count is how many length-delimited fields num b holds at its top level
// (a size hint: it stops at the first field next cannot read).
func count(b []byte, num protowire.Number) int {
	n := 0
	for len(b) > 0 {
		f, rest, ok := next(b)
		if !ok {
			break
		}
		if f.num == num && f.typ == bytes {
			n++
		}
		b = rest
	}
	return n
}

// strs makes the strings of one message. When shared, every string is a
// substring of one copy of the message's bytes (one allocation for all of
// them); otherwise each is its own copy.
type strs struct {
	b      []byte // the message's bytes; values are subslices of it
	s      string // string(b) when shared
	shared bool
}

func newStrs(b []byte, shared bool) strs {
	t := strs{b: b, shared: shared}
	if shared {
		t.s = string(b)
	}
	return t
}

// str is v (a subslice of t.b) as a string; false when v is not UTF-8
// (proto3 strings must be, and proto.Unmarshal rejects them).
func (t *strs) str(v []byte) (string, bool) {
	if len(v) == 0 {
		return "", true
	}
	if !utf8.Valid(v) {
		return "", false
	}
	if !t.shared {
		return string(v), true
	}
	// v = t.b[i:][:n] for some i (protowire.ConsumeBytes keeps the
	// capacity), so its capacity tells where it starts.
	off := cap(t.b) - cap(v)
	if off < 0 || off+len(v) > len(t.s) {
		return string(v), true
	}
	return t.s[off : off+len(v)], true
}

func connectRequestFast(b []byte, m *mxv1.ConnectRequest) bool {
	var batch *mxv1.ResultBatch
	for len(b) > 0 {
		f, rest, ok := next(b)
		if !ok || f.num != connectRequestBatch || f.typ != bytes {
			return false
		}
		b = rest
		if batch == nil {
			// A repeated oneof message field merges into the one set.
			batch = &mxv1.ResultBatch{}
			m.Msg = &mxv1.ConnectRequest_Batch{Batch: batch}
		}
		if !resultBatch(f.v, batch) {
			return false
		}
	}
	return true
}

func command(b []byte, m *mxv1.Command) bool {
	var ib *mxv1.IngestBatches
	for len(b) > 0 {
		f, rest, ok := next(b)
		if !ok || f.typ != bytes {
			return false
		}
		b = rest
		switch f.num {
		case commandProposedAt:
			if m.ProposedAt == nil {
				m.ProposedAt = &timestamppb.Timestamp{}
			}
			if !timestamp(f.v, m.ProposedAt) {
				return false
			}
		case commandIngestBatches:
			if ib == nil {
				ib = &mxv1.IngestBatches{}
				m.Kind = &mxv1.Command_IngestBatches{IngestBatches: ib}
			}
			if !ingestBatches(f.v, ib) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func ingestBatches(b []byte, m *mxv1.IngestBatches) bool {
	n := count(b, ingestBatchesBatches)
	// The entry's batches are allocated together: the FSM keeps their
	// results, never the batches themselves.
	abs := make([]mxv1.AgentBatch, n)
	rbs := make([]mxv1.ResultBatch, n)
	if m.Batches == nil {
		m.Batches = make([]*mxv1.AgentBatch, 0, n)
	}
	for len(b) > 0 {
		f, rest, ok := next(b)
		if !ok || f.num != ingestBatchesBatches || f.typ != bytes {
			return false
		}
		b = rest
		var ab *mxv1.AgentBatch
		var rb *mxv1.ResultBatch
		if len(abs) > 0 {
			ab, rb = &abs[0], &rbs[0]
			abs, rbs = abs[1:], rbs[1:]
		} else {
			ab, rb = &mxv1.AgentBatch{}, &mxv1.ResultBatch{}
		}
		if !agentBatch(f.v, ab, rb) {
			return false
		}
		m.Batches = append(m.Batches, ab)
	}
	return true
}

// agentBatch decodes b into m; rb is the ResultBatch to use if b has one.
func agentBatch(b []byte, m *mxv1.AgentBatch, rb *mxv1.ResultBatch) bool {
	for len(b) > 0 {
		f, rest, ok := next(b)
		if !ok || f.typ != bytes {
			return false
		}
		b = rest
		switch f.num {
		case agentBatchAgentID:
			if !utf8.Valid(f.v) {
				return false
			}
			m.AgentId = string(f.v)
		case agentBatchBatch:
			if m.Batch == nil {
				m.Batch = rb
			}
			if !resultBatch(f.v, m.Batch) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func resultBatch(b []byte, m *mxv1.ResultBatch) bool {
	if n := count(b, resultBatchResults); n > 0 && m.Results == nil {
		m.Results = make([]*mxv1.CheckResult, 0, n)
	}
	for len(b) > 0 {
		f, rest, ok := next(b)
		if !ok {
			return false
		}
		b = rest
		switch {
		case f.num == resultBatchSeq && f.typ == varint:
			m.Seq = f.u
		case f.num == resultBatchSentAt && f.typ == bytes:
			if m.SentAt == nil {
				m.SentAt = &timestamppb.Timestamp{}
			}
			if !timestamp(f.v, m.SentAt) {
				return false
			}
		case f.num == resultBatchResults && f.typ == bytes:
			r, ok := checkResult(f.v)
			if !ok {
				return false
			}
			m.Results = append(m.Results, r)
		case f.num == resultBatchSpoolLoss && f.typ == bytes:
			if !mergeSpoolLoss(&m.SpoolLoss, f.v) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// scanResult counts a result's findings and reports whether its strings
// may share one copy of its bytes: not when it carries a certificate
// listing or an inventory document, bytes the copy would hold for nothing.
func scanResult(b []byte) (findings int, shared bool) {
	shared = true
	for len(b) > 0 {
		f, rest, ok := next(b)
		if !ok {
			break
		}
		if f.typ == bytes {
			switch f.num {
			case checkResultFindings:
				findings++
			case checkResultCertificates, checkResultExchangeInventory:
				shared = false
			}
		}
		b = rest
	}
	return findings, shared
}

// resultWithFinding is a result with one finding (the usual case) in one
// allocation: the store keeps or drops a result's findings with it.
type resultWithFinding struct {
	r   mxv1.CheckResult
	f   [1]mxv1.Finding
	ptr [1]*mxv1.Finding
}

// checkResult decodes one CheckResult.
func checkResult(b []byte) (*mxv1.CheckResult, bool) {
	nf, shared := scanResult(b)
	t := newStrs(b, shared)
	return checkResultWith(b, nf, &t)
}

// checkResultWith decodes one CheckResult of nf findings, its strings made
// by t.
func checkResultWith(b []byte, nf int, t *strs) (*mxv1.CheckResult, bool) {
	// A result's findings are allocated together (the store keeps or
	// drops them with their result).
	var m *mxv1.CheckResult
	var block []mxv1.Finding
	switch nf {
	case 0:
		m = &mxv1.CheckResult{}
	case 1:
		w := &resultWithFinding{}
		m, block = &w.r, w.f[:]
		m.Findings = w.ptr[:0]
	default:
		m = &mxv1.CheckResult{}
		block = make([]mxv1.Finding, nf)
		m.Findings = make([]*mxv1.Finding, 0, nf)
	}
	return m, mergeCheckResult(b, m, block, t)
}

// mergeCheckResult decodes b into m, its findings into block's elements
// first.
func mergeCheckResult(b []byte, m *mxv1.CheckResult, block []mxv1.Finding, t *strs) bool {
	for len(b) > 0 {
		f, rest, ok := next(b)
		if !ok {
			return false
		}
		b = rest
		switch {
		case f.num == checkResultCheck && f.typ == bytes:
			if m.Check, ok = t.str(f.v); !ok {
				return false
			}
		case f.num == checkResultTarget && f.typ == bytes:
			if m.Target, ok = t.str(f.v); !ok {
				return false
			}
		case f.num == checkResultStatus && f.typ == varint:
			m.Status = mxv1.CheckStatus(int32(f.u))
		case f.num == checkResultStartedAt && f.typ == bytes:
			if m.StartedAt == nil {
				m.StartedAt = &timestamppb.Timestamp{}
			}
			if !timestamp(f.v, m.StartedAt) {
				return false
			}
		case f.num == checkResultDuration && f.typ == bytes:
			if m.Duration == nil {
				m.Duration = &durationpb.Duration{}
			}
			if !duration(f.v, m.Duration) {
				return false
			}
		case f.num == checkResultFindings && f.typ == bytes:
			var fd *mxv1.Finding
			if len(block) > 0 {
				fd, block = &block[0], block[1:]
			} else {
				fd = &mxv1.Finding{}
			}
			if !finding(f.v, fd, t) {
				return false
			}
			m.Findings = append(m.Findings, fd)
		case f.num == checkResultError && f.typ == bytes:
			if m.Error, ok = t.str(f.v); !ok {
				return false
			}
		case f.num == checkResultCertificates && f.typ == bytes:
			c := &mxv1.CertificateSummary{}
			if proto.Unmarshal(f.v, c) != nil {
				return false
			}
			m.Certificates = append(m.Certificates, c)
		case f.num == checkResultCertificatesUnchanged && f.typ == varint:
			m.CertificatesUnchanged = protowire.DecodeBool(f.u)
		case f.num == checkResultTLS && f.typ == bytes:
			if m.Tls == nil {
				m.Tls = &mxv1.TLSSession{}
			}
			if !tlsSession(f.v, m.Tls, t) {
				return false
			}
		case f.num == checkResultExchangeInventory && f.typ == bytes:
			m.ExchangeInventory = append([]byte{}, f.v...)
		case f.num == checkResultExchangeInventoryUnchanged && f.typ == varint:
			m.ExchangeInventoryUnchanged = protowire.DecodeBool(f.u)
		default:
			return false
		}
	}
	return true
}

func finding(b []byte, m *mxv1.Finding, t *strs) bool {
	if n := count(b, findingEvidence); n > 0 && m.Evidence == nil {
		m.Evidence = make(map[string]string, n)
	}
	for len(b) > 0 {
		f, rest, ok := next(b)
		if !ok {
			return false
		}
		b = rest
		switch {
		case f.num == findingCode && f.typ == bytes:
			if m.Code, ok = t.str(f.v); !ok {
				return false
			}
		case f.num == findingSeverity && f.typ == varint:
			m.Severity = mxv1.Severity(int32(f.u))
		case f.num == findingSubject && f.typ == bytes:
			if m.Subject, ok = t.str(f.v); !ok {
				return false
			}
		case f.num == findingSubjectKind && f.typ == varint:
			m.SubjectKind = mxv1.SubjectKind(int32(f.u))
		case f.num == findingSummary && f.typ == bytes:
			if m.Summary, ok = t.str(f.v); !ok {
				return false
			}
		case f.num == findingEvidence && f.typ == bytes:
			k, v, ok := mapEntry(f.v, t)
			if !ok {
				return false
			}
			if m.Evidence == nil {
				m.Evidence = map[string]string{}
			}
			m.Evidence[k] = v
		case f.num == findingRemediation && f.typ == bytes:
			if m.Remediation, ok = t.str(f.v); !ok {
				return false
			}
		case (f.num == findingExplains || f.num == findingExplainedBy) && f.typ == bytes:
			r := &mxv1.FindingRef{}
			if !findingRef(f.v, r, t) {
				return false
			}
			if f.num == findingExplains {
				m.Explains = append(m.Explains, r)
			} else {
				m.ExplainedBy = append(m.ExplainedBy, r)
			}
		default:
			return false
		}
	}
	return true
}

// mapEntry is one map<string, string> entry (a missing key or value is
// empty).
func mapEntry(b []byte, t *strs) (k, v string, ok bool) {
	for len(b) > 0 {
		f, rest, ok := next(b)
		if !ok || f.typ != bytes {
			return "", "", false
		}
		b = rest
		switch f.num {
		case mapKey:
			if k, ok = t.str(f.v); !ok {
				return "", "", false
			}
		case mapValue:
			if v, ok = t.str(f.v); !ok {
				return "", "", false
			}
		default:
			return "", "", false
		}
	}
	return k, v, true
}

func findingRef(b []byte, m *mxv1.FindingRef, t *strs) bool {
	for len(b) > 0 {
		f, rest, ok := next(b)
		if !ok || f.typ != bytes {
			return false
		}
		b = rest
		switch f.num {
		case refCode:
			if m.Code, ok = t.str(f.v); !ok {
				return false
			}
		case refSubject:
			if m.Subject, ok = t.str(f.v); !ok {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func tlsSession(b []byte, m *mxv1.TLSSession, t *strs) bool {
	for len(b) > 0 {
		f, rest, ok := next(b)
		if !ok || f.typ != bytes {
			return false
		}
		b = rest
		switch f.num {
		case tlsVersion:
			if m.Version, ok = t.str(f.v); !ok {
				return false
			}
		case tlsCipherSuite:
			if m.CipherSuite, ok = t.str(f.v); !ok {
				return false
			}
		case tlsLeafThumbprint:
			if m.LeafThumbprint, ok = t.str(f.v); !ok {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func timestamp(b []byte, m *timestamppb.Timestamp) bool {
	var ok bool
	m.Seconds, m.Nanos, ok = secondsNanos(b)
	return ok
}

func duration(b []byte, m *durationpb.Duration) bool {
	var ok bool
	m.Seconds, m.Nanos, ok = secondsNanos(b)
	return ok
}

// secondsNanos decodes the two fields Timestamp and Duration share.
func secondsNanos(b []byte) (seconds int64, nanos int32, ok bool) {
	for len(b) > 0 {
		f, rest, ok := next(b)
		if !ok || f.typ != varint {
			return 0, 0, false
		}
		b = rest
		switch f.num {
		case secondsField:
			seconds = int64(f.u)
		case nanosField:
			nanos = int32(f.u)
		default:
			return 0, 0, false
		}
	}
	return seconds, nanos, true
}

// mergeSpoolLoss merges the encoded SpoolLoss b into *dst (made when
// nil), as proto.Unmarshal does for a repeated occurrence of the field.
func mergeSpoolLoss(dst **mxv1.SpoolLoss, b []byte) bool {
	if *dst == nil {
		*dst = &mxv1.SpoolLoss{}
	}
	return (proto.UnmarshalOptions{Merge: true}).Unmarshal(b, *dst) == nil
}
