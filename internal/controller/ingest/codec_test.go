package ingest

import (
	"bytes"
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

func TestServerCodecKeepsBatchBytes(t *testing.T) {
	b := &mxv1.ResultBatch{Seq: 7, Results: []*mxv1.CheckResult{{Check: "smtp_probe", Target: "smtp://mx:25",
		Findings: []*mxv1.Finding{{Code: "CERT_EXPIRED", Evidence: map[string]string{"a": "1", "b": "2"}}}}}}
	det := proto.MarshalOptions{Deterministic: true}
	batchBytes, err := det.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	one, err := det.Marshal(&mxv1.ConnectRequest{Msg: &mxv1.ConnectRequest_Batch{Batch: b}})
	if err != nil {
		t.Fatal(err)
	}
	hello, err := proto.Marshal(&mxv1.ConnectRequest{Msg: &mxv1.ConnectRequest_Hello{Hello: &mxv1.Hello{AgentId: "edge01"}}})
	if err != nil {
		t.Fatal(err)
	}
	// The batch field twice decodes to the merge of both: no single run of
	// bytes is what the message came from.
	twice := append(append([]byte{}, one...), one...)
	unknown := protowire.AppendTag(append([]byte{}, one...), 99, protowire.VarintType)
	unknown = protowire.AppendVarint(unknown, 1)
	c := ServerCodec()
	for _, tc := range []struct {
		name string
		in   []byte
		want []byte
	}{
		{"one batch", one, batchBytes},
		{"hello", hello, nil},
		{"batch twice", twice, nil},
		{"batch and an unknown field", unknown, nil},
		{"empty", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &rawRequest{}
			if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(tc.in)}, r); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(r.batch, tc.want) || (r.batch == nil) != (tc.want == nil) {
				t.Fatalf("kept %x, want %x", r.batch, tc.want)
			}
			want := &mxv1.ConnectRequest{}
			if err := proto.Unmarshal(tc.in, want); err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(&r.ConnectRequest, want) {
				t.Fatalf("decoded %v, want %v", &r.ConnectRequest, want)
			}
			if r.batch != nil {
				got := &mxv1.ResultBatch{}
				if err := proto.Unmarshal(r.batch, got); err != nil || !proto.Equal(got, r.GetBatch()) {
					t.Fatalf("kept bytes decode to %v (%v), message %v", got, err, r.GetBatch())
				}
			}
		})
	}
	// Other messages go to grpc-go's proto codec.
	w := &mxv1.Welcome{ControllerId: "c1"}
	data, err := c.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	got := &mxv1.Welcome{}
	if err := c.Unmarshal(data, got); err != nil || !proto.Equal(got, w) {
		t.Fatalf("welcome round trip: %v %v", got, err)
	}
	if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer([]byte{0xff})}, &rawRequest{}); err == nil {
		t.Fatal("garbage decoded")
	}
}
