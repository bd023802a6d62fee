package bench

import (
	"testing"

	"google.golang.org/protobuf/proto"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// A pre-encoded batch is the ConnectRequest the proto encoder would
// send: it decodes to the same message.
func TestEncodeBatchDecodesAsTheMessage(t *testing.T) {
	for _, certs := range []int{0, 3} {
		results := batch(0, 20, certs).GetResults()
		enc, err := encodeResults(results)
		if err != nil {
			t.Fatal(err)
		}
		for _, seq := range []uint64{1, 300, 1 << 40} {
			var got mxv1.ConnectRequest
			if err := proto.Unmarshal(encodeBatch(seq, enc), &got); err != nil {
				t.Fatal(err)
			}
			want := &mxv1.ConnectRequest{Msg: &mxv1.ConnectRequest_Batch{Batch: &mxv1.ResultBatch{Seq: seq, Results: results}}}
			if !proto.Equal(&got, want) {
				t.Fatalf("seq %d, %d certificates: decoded %v", seq, certs, &got)
			}
		}
	}
}
