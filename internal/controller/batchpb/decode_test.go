package batchpb

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// sampleBatch is a batch with every field the decoder handles by hand set,
// and the ones it leaves to proto.Unmarshal.
func sampleBatch(seq uint64, results int, certs bool) *mxv1.ResultBatch {
	at := timestamppb.New(time.Date(2026, 12, 3, 10, 0, 0, 5, time.UTC))
	b := &mxv1.ResultBatch{Seq: seq, SentAt: at}
	for i := range results {
		r := &mxv1.CheckResult{
			Check: "smtp_probe", Target: fmt.Sprintf("smtp://mx%02d.contoso.test:25", i), Status: mxv1.CheckStatus_CHECK_STATUS_FAIL,
			StartedAt: at, Duration: durationpb.New(1500 * time.Millisecond), Error: "",
			Tls: &mxv1.TLSSession{Version: "TLS 1.3", CipherSuite: "TLS_AES_128_GCM_SHA256", LeafThumbprint: "B79D1A3C"},
			Findings: []*mxv1.Finding{{
				Code: "CERT_EXPIRING", Severity: mxv1.Severity_SEVERITY_WARNING, Subject: "B79D1A3C6A2F0E4B8C9D0E1F2A3B4C5D6E7F8091",
				SubjectKind: mxv1.SubjectKind_SUBJECT_KIND_CERTIFICATE, Summary: "expires in 17 days — renew",
				Evidence:    map[string]string{"not_after": "2026-12-20T00:00:00Z", "endpoint": "mx.contoso.test:25", "": "empty key"},
				Remediation: "renew it", Explains: []*mxv1.FindingRef{{Code: "SMTP_TLS_FAILED", Subject: "mx"}},
				ExplainedBy: []*mxv1.FindingRef{{Code: "X"}},
			}, {Code: "SECOND"}},
		}
		if certs && i == 0 {
			r.Certificates = []*mxv1.CertificateSummary{{Thumbprint: "AA", Subject: "CN=mail", DnsNames: []string{"mail.contoso.com"}, NotAfter: at}}
			r.CertificatesUnchanged = true
			r.ExchangeInventory = []byte(`{"connectors":[]}`)
			r.ExchangeInventoryUnchanged = true
		}
		b.Results = append(b.Results, r)
	}
	if certs {
		b.SpoolLoss = &mxv1.SpoolLoss{DroppedFull: 3, Results: 60, Since: at}
	}
	return b
}

func ingestCommand(t testing.TB, batches int) []byte {
	cmd := &mxv1.Command{ProposedAt: timestamppb.New(time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC))}
	ib := &mxv1.IngestBatches{}
	for i := range batches {
		ib.Batches = append(ib.Batches, &mxv1.AgentBatch{AgentId: fmt.Sprintf("agent-%05d", i), Batch: sampleBatch(uint64(i+1), 20, i == 0)})
	}
	cmd.Kind = &mxv1.Command_IngestBatches{IngestBatches: ib}
	b, err := proto.Marshal(cmd)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func connectRequest(t testing.TB, b *mxv1.ResultBatch) []byte {
	out, err := proto.Marshal(&mxv1.ConnectRequest{Msg: &mxv1.ConnectRequest_Batch{Batch: b}})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// check decodes in with both decoders and fails unless they agree: the
// same error or none, and equal messages.
func check(t *testing.T, in []byte) {
	t.Helper()
	type pair struct {
		fast, ref proto.Message
		dec       func([]byte, proto.Message) error
	}
	for _, p := range []pair{
		{&mxv1.ConnectRequest{}, &mxv1.ConnectRequest{}, func(b []byte, m proto.Message) error { return UnmarshalConnectRequest(b, m.(*mxv1.ConnectRequest)) }},
		{&mxv1.ResultBatch{}, &mxv1.ResultBatch{}, func(b []byte, m proto.Message) error { return UnmarshalResultBatch(b, m.(*mxv1.ResultBatch)) }},
		{&mxv1.Command{}, &mxv1.Command{}, func(b []byte, m proto.Message) error { return UnmarshalCommand(b, m.(*mxv1.Command)) }},
	} {
		ferr := p.dec(in, p.fast)
		rerr := proto.Unmarshal(in, p.ref)
		if (ferr == nil) != (rerr == nil) {
			t.Fatalf("%T: fast decoder error %v, proto.Unmarshal error %v", p.ref, ferr, rerr)
		}
		if ferr != nil {
			if ferr.Error() != rerr.Error() {
				t.Fatalf("%T: fast decoder error %q, proto.Unmarshal %q", p.ref, ferr, rerr)
			}
			continue
		}
		if !proto.Equal(p.fast, p.ref) {
			t.Fatalf("%T: fast decoder\n%v\nproto.Unmarshal\n%v", p.ref, p.fast, p.ref)
		}
	}
}

// hand-built inputs the fast path must leave to proto.Unmarshal or decode
// the same way: duplicates that merge, unknown fields, wrong wire types,
// invalid UTF-8, truncation.
func edgeCases(t testing.TB) map[string][]byte {
	one := connectRequest(t, sampleBatch(7, 2, true))
	batch, err := proto.Marshal(sampleBatch(9, 3, false))
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string][]byte{
		"request":       one,
		"request twice": append(append([]byte{}, one...), one...),
		"batch":         batch,
		"batch twice":   append(append([]byte{}, batch...), batch...),
		"command":       ingestCommand(t, 3),
		"empty":         nil,
		"truncated":     one[:len(one)-3],
	}
	hello, err := proto.Marshal(&mxv1.ConnectRequest{Msg: &mxv1.ConnectRequest_Hello{Hello: &mxv1.Hello{AgentId: "edge01"}}})
	if err != nil {
		t.Fatal(err)
	}
	cases["hello"] = hello
	cases["batch then hello"] = append(append([]byte{}, one...), hello...)
	cases["unknown field"] = protowire.AppendVarint(protowire.AppendTag(append([]byte{}, batch...), 99, protowire.VarintType), 1)
	cases["seq as bytes"] = protowire.AppendBytes(protowire.AppendTag(nil, resultBatchSeq, protowire.BytesType), []byte{1})
	bad := func(s string) []byte {
		r := protowire.AppendBytes(protowire.AppendTag(nil, checkResultCheck, protowire.BytesType), []byte(s))
		return protowire.AppendBytes(protowire.AppendTag(nil, resultBatchResults, protowire.BytesType), r)
	}
	cases["invalid utf-8"] = bad("\xff\xfe")
	cases["valid utf-8"] = bad("zoë")
	entry := protowire.AppendBytes(protowire.AppendTag(nil, mapKey, protowire.BytesType), []byte("k"))
	fd := protowire.AppendBytes(protowire.AppendTag(nil, findingEvidence, protowire.BytesType), entry)
	fd = protowire.AppendBytes(protowire.AppendTag(fd, findingEvidence, protowire.BytesType), nil)
	r := protowire.AppendBytes(protowire.AppendTag(nil, checkResultFindings, protowire.BytesType), fd)
	cases["map entries without value or key"] = protowire.AppendBytes(protowire.AppendTag(nil, resultBatchResults, protowire.BytesType), r)
	ts := protowire.AppendVarint(protowire.AppendTag(nil, secondsField, protowire.VarintType), 1<<63)
	ts = protowire.AppendVarint(protowire.AppendTag(ts, nanosField, protowire.VarintType), 1<<40)
	cases["timestamp out of range twice"] = protowire.AppendBytes(protowire.AppendTag(protowire.AppendBytes(protowire.AppendTag(nil, resultBatchSentAt, protowire.BytesType), ts), resultBatchSentAt, protowire.BytesType), ts[:2])
	cases["overlong varint"] = append(protowire.AppendTag(nil, resultBatchSeq, protowire.VarintType), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f)
	cases["field zero"] = []byte{0x00, 0x01}
	return cases
}

func TestDecodersAgreeWithProtoUnmarshal(t *testing.T) {
	for name, in := range edgeCases(t) {
		t.Run(name, func(t *testing.T) { check(t, in) })
	}
}

// The fast path takes the batches (no fallback): its strings are
// substrings of one copy per result.
func TestFastPathSharesResultStrings(t *testing.T) {
	in := connectRequest(t, sampleBatch(1, 2, false))
	m := &mxv1.ConnectRequest{}
	if !connectRequestFast(in, m) {
		t.Fatal("a plain batch did not take the fast path")
	}
	r := m.GetBatch().GetResults()[0]
	if len(r.GetFindings()) != 2 || r.GetFindings()[0].GetEvidence()["endpoint"] != "mx.contoso.test:25" {
		t.Fatalf("decoded %v", r)
	}
}

func FuzzUnmarshal(f *testing.F) {
	for _, in := range edgeCases(f) {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in []byte) { check(t, in) })
}

// simBatch is the batch mxbench's simulated agents send (internal/bench).
func simBatch(seq uint64) *mxv1.ResultBatch {
	b := &mxv1.ResultBatch{Seq: seq}
	for i := range 20 {
		b.Results = append(b.Results, &mxv1.CheckResult{
			Check: "smtp_probe", Target: fmt.Sprintf("smtp://mx%02d.contoso.test:25", i), Status: mxv1.CheckStatus_CHECK_STATUS_OK,
			Findings: []*mxv1.Finding{{Code: "CERT_EXPIRING", Severity: mxv1.Severity_SEVERITY_WARNING, Subject: "B79D1A3C6A2F0E4B8C9D0E1F2A3B4C5D6E7F8091",
				Evidence: map[string]string{"not_after": "2026-12-20T00:00:00Z", "endpoint": "mx.contoso.test:25"}}},
		})
	}
	return b
}

func BenchmarkDecode(b *testing.B) {
	req := connectRequest(b, simBatch(1))
	cmd := ingestCommand(b, 100)
	for _, bc := range []struct {
		name string
		in   []byte
		fast func([]byte) error
		ref  func([]byte) error
	}{
		{"ConnectRequest-mxbench", req,
			func(in []byte) error { return UnmarshalConnectRequest(in, &mxv1.ConnectRequest{}) },
			func(in []byte) error { return proto.Unmarshal(in, &mxv1.ConnectRequest{}) }},
		{"Command-100batches", cmd,
			func(in []byte) error { return UnmarshalCommand(in, &mxv1.Command{}) },
			func(in []byte) error { return proto.Unmarshal(in, &mxv1.Command{}) }},
	} {
		for _, impl := range []struct {
			name string
			fn   func([]byte) error
		}{{"batchpb", bc.fast}, {"proto", bc.ref}} {
			b.Run(bc.name+"/"+impl.name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(bc.in)))
				start := cpuNow()
				for b.Loop() {
					if err := impl.fn(bc.in); err != nil {
						b.Fatal(err)
					}
				}
				// Garbage collection included (GOMAXPROCS is the machine's).
				b.ReportMetric(float64(cpuNow()-start)/float64(b.N), "cpu-ns/op")
			})
		}
	}
}
