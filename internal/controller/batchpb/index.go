package batchpb

import (
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// Ingest is an IngestBatches command read by IndexIngest: what the FSM
// indexes of every batch and result, each result's bytes kept to decode
// when something reads it.
type Ingest struct {
	ProposedAt *timestamppb.Timestamp
	Batches    []IndexedBatch
}

// IndexedBatch is one AgentBatch of an Ingest.
type IndexedBatch struct {
	AgentID   string
	Seq       uint64
	SpoolLoss *mxv1.SpoolLoss
	Results   []IndexedResult
}

// IndexedResult is one CheckResult of an IndexedBatch: the fields the FSM
// indexes, and either the result decoded (Decoded: one with a certificate
// listing or an inventory document, or either's "unchanged" flag, which
// the FSM completes from the stored result) or its bytes for Decode.
type IndexedResult struct {
	Check, Target string
	Status        mxv1.CheckStatus
	// WarningCodes are the codes of the findings at SEVERITY_WARNING or
	// worse, in the result's order (duplicates kept).
	WarningCodes []string
	// Findings is how many findings the result has.
	Findings int
	Decoded  *mxv1.CheckResult
	// Encoded is the result's bytes when Decoded is nil.
	Encoded EncodedResult
}

// Decode returns the result: Decoded, or a new decoding of Encoded.
func (r *IndexedResult) Decode() *mxv1.CheckResult {
	if r.Decoded != nil {
		return r.Decoded
	}
	return r.Encoded.Decode()
}

// EncodedResult is the wire encoding of one CheckResult IndexIngest
// accepted (so it decodes without error). Check, Target and WarningCodes
// of its IndexedResult are substrings of it.
type EncodedResult struct{ s string }

// Decode returns a new decoding of the result: exactly what
// UnmarshalCommand gives for it as part of its command. The message's
// strings are substrings of e's.
func (e EncodedResult) Decode() *mxv1.CheckResult {
	return decodeShared([]byte(e.s), e.s)
}

// Len is the encoding's length in bytes.
func (e EncodedResult) Len() int { return len(e.s) }

// decodeShared decodes the bytes b of a result IndexIngest accepted; s is
// string(b), and the result's strings are substrings of it.
func decodeShared(b []byte, s string) *mxv1.CheckResult {
	nf, _ := scanResult(b)
	if m, ok := checkResultWith(b, nf, &strs{b: b, s: s, shared: true}); ok {
		return m
	}
	// Not reached for bytes IndexIngest accepted (FuzzIndexIngest); the
	// reference decoder then.
	m := &mxv1.CheckResult{}
	_ = proto.Unmarshal(b, m)
	return m
}

// IndexIngest reads an IngestBatches command (a raft entry) without
// decoding its results: ok is false for anything but the plain layout the
// leader writes (one proposed_at, one ingest_batches, each batch with at
// most one agent_id and one batch) or for any byte UnmarshalCommand's
// fast path would not accept; the caller then decodes the entry with
// UnmarshalCommand. When ok, every field is what UnmarshalCommand gives
// and every result's Decode is that result.
func IndexIngest(b []byte) (Ingest, bool) {
	var in Ingest
	seenAt, seenBatches := false, false
	var codes []string // every result's WarningCodes, one array
	for len(b) > 0 {
		f, rest, ok := next(b)
		if !ok || f.typ != bytes {
			return Ingest{}, false
		}
		b = rest
		switch f.num {
		case commandProposedAt:
			if seenAt {
				return Ingest{}, false
			}
			seenAt = true
			in.ProposedAt = &timestamppb.Timestamp{}
			if !timestamp(f.v, in.ProposedAt) {
				return Ingest{}, false
			}
		case commandIngestBatches:
			if seenBatches {
				return Ingest{}, false
			}
			seenBatches = true
			if !indexBatches(f.v, &in, &codes) {
				return Ingest{}, false
			}
		default:
			return Ingest{}, false
		}
	}
	if !seenBatches {
		return Ingest{}, false
	}
	return in, true
}

func indexBatches(b []byte, in *Ingest, codes *[]string) bool {
	in.Batches = make([]IndexedBatch, 0, count(b, ingestBatchesBatches))
	for len(b) > 0 {
		f, rest, ok := next(b)
		if !ok || f.num != ingestBatchesBatches || f.typ != bytes {
			return false
		}
		b = rest
		var ab IndexedBatch
		if !indexAgentBatch(f.v, &ab, codes) {
			return false
		}
		in.Batches = append(in.Batches, ab)
	}
	return true
}

func indexAgentBatch(b []byte, m *IndexedBatch, codes *[]string) bool {
	seenID, seenBatch := false, false
	for len(b) > 0 {
		f, rest, ok := next(b)
		if !ok || f.typ != bytes {
			return false
		}
		b = rest
		switch f.num {
		case agentBatchAgentID:
			if seenID || !utf8.Valid(f.v) {
				return false
			}
			seenID = true
			m.AgentID = string(f.v)
		case agentBatchBatch:
			if seenBatch {
				return false
			}
			seenBatch = true
			if !indexResultBatch(f.v, m, codes) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func indexResultBatch(b []byte, m *IndexedBatch, codes *[]string) bool {
	if n := count(b, resultBatchResults); n > 0 {
		m.Results = make([]IndexedResult, 0, n)
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
			if _, _, ok := secondsNanos(f.v); !ok {
				return false
			}
		case f.num == resultBatchResults && f.typ == bytes:
			r, ok := indexResult(f.v, codes)
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

// indexResult reads one CheckResult in one pass, checking what
// mergeCheckResult checks. A result that carries a listing or an
// inventory document, or either's "unchanged" flag, is decoded instead.
func indexResult(b []byte, codes *[]string) (IndexedResult, bool) {
	var r IndexedResult
	in := b
	// Where the strings the index keeps are in b (offset, length), made
	// substrings of the result's one copy at the end.
	type span struct{ off, n int }
	at := func(v []byte) span {
		if len(v) == 0 {
			return span{} // an absent field's nil too
		}
		return span{cap(in) - cap(v), len(v)}
	}
	var check, target span
	var buf [4]span
	warn := buf[:0]
	for len(b) > 0 {
		f, rest, ok := next(b)
		if !ok {
			return r, false
		}
		b = rest
		switch {
		case f.num == checkResultCheck && f.typ == bytes:
			if !utf8.Valid(f.v) {
				return r, false
			}
			check = at(f.v)
		case f.num == checkResultTarget && f.typ == bytes:
			if !utf8.Valid(f.v) {
				return r, false
			}
			target = at(f.v)
		case f.num == checkResultStatus && f.typ == varint:
			r.Status = mxv1.CheckStatus(int32(f.u))
		case (f.num == checkResultStartedAt || f.num == checkResultDuration) && f.typ == bytes:
			if _, _, ok := secondsNanos(f.v); !ok {
				return r, false
			}
		case f.num == checkResultFindings && f.typ == bytes:
			code, sev, ok := indexFinding(f.v)
			if !ok {
				return r, false
			}
			r.Findings++
			if sev >= mxv1.Severity_SEVERITY_WARNING {
				warn = append(warn, at(code))
			}
		case f.num == checkResultError && f.typ == bytes:
			if !utf8.Valid(f.v) {
				return r, false
			}
		case f.num == checkResultTLS && f.typ == bytes:
			if !validStrings(f.v, tlsVersion, tlsLeafThumbprint) {
				return r, false
			}
		case (f.num == checkResultCertificates || f.num == checkResultExchangeInventory) && f.typ == bytes,
			(f.num == checkResultCertificatesUnchanged || f.num == checkResultExchangeInventoryUnchanged) && f.typ == varint:
			// The FSM completes the "unchanged" ones from the stored
			// result: decoded now, as UnmarshalCommand decodes them.
			m, ok := checkResult(in)
			if !ok {
				return r, false
			}
			return decodedIndex(m, codes), true
		default:
			return r, false
		}
	}
	raw := string(in)
	sub := func(s span) string { return raw[s.off : s.off+s.n] }
	r.Check, r.Target = sub(check), sub(target)
	start := len(*codes)
	for _, w := range warn {
		*codes = append(*codes, sub(w))
	}
	r.WarningCodes = (*codes)[start:len(*codes):len(*codes)]
	r.Encoded = EncodedResult{raw}
	return r, true
}

// decodedIndex indexes a decoded result.
func decodedIndex(m *mxv1.CheckResult, codes *[]string) IndexedResult {
	start := len(*codes)
	for _, f := range m.GetFindings() {
		if f.GetSeverity() >= mxv1.Severity_SEVERITY_WARNING {
			*codes = append(*codes, f.GetCode())
		}
	}
	return IndexedResult{Check: m.GetCheck(), Target: m.GetTarget(), Status: m.GetStatus(), Findings: len(m.GetFindings()),
		WarningCodes: (*codes)[start:len(*codes):len(*codes)], Decoded: m}
}

// indexFinding checks a Finding as finding() does and returns its code
// (a subslice of b) and severity, the last of each as decoding keeps.
func indexFinding(b []byte) ([]byte, mxv1.Severity, bool) {
	var code []byte
	var sev mxv1.Severity
	for len(b) > 0 {
		f, rest, ok := next(b)
		if !ok {
			return nil, 0, false
		}
		b = rest
		switch {
		case (f.num == findingCode || f.num == findingSubject || f.num == findingSummary || f.num == findingRemediation) && f.typ == bytes:
			if !utf8.Valid(f.v) {
				return nil, 0, false
			}
			if f.num == findingCode {
				code = f.v
			}
		case f.num == findingSeverity && f.typ == varint:
			sev = mxv1.Severity(int32(f.u))
		case f.num == findingSubjectKind && f.typ == varint:
		case f.num == findingEvidence && f.typ == bytes:
			if !validStrings(f.v, mapKey, mapValue) {
				return nil, 0, false
			}
		case (f.num == findingExplains || f.num == findingExplainedBy) && f.typ == bytes:
			if !validStrings(f.v, refCode, refSubject) {
				return nil, 0, false
			}
		default:
			return nil, 0, false
		}
	}
	return code, sev, true
}

// validStrings: b is a message of UTF-8 string fields numbered lo to hi
// only (a FindingRef, a TLSSession, a map<string, string> entry), as
// findingRef, tlsSession and mapEntry accept.
func validStrings(b []byte, lo, hi protowire.Number) bool {
	for len(b) > 0 {
		f, rest, ok := next(b)
		if !ok || f.typ != bytes || f.num < lo || f.num > hi || !utf8.Valid(f.v) {
			return false
		}
		b = rest
	}
	return true
}
