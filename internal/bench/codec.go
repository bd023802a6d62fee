package bench

import (
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// The simulated agents encode a batch's results once and send every
// batch as those bytes behind its sequence number: the simulator shares
// the machine's cores with the cluster it measures (real agents encode on
// their own hosts), and proto-encoding 20 results per batch was most of
// its CPU. The bytes are a valid ConnectRequest: the controller decodes
// and validates them like any agent's.

// preEncoded is a message the simulator encoded itself.
type preEncoded []byte

// simCodec is grpc-go's proto codec, except that it sends preEncoded
// bytes as they are.
type simCodec struct{ next encoding.CodecV2 }

func newSimCodec() simCodec { return simCodec{next: encoding.GetCodecV2(grpcproto.Name)} }

func (c simCodec) Name() string { return grpcproto.Name }

func (c simCodec) Marshal(v any) (mem.BufferSlice, error) {
	if b, ok := v.(preEncoded); ok {
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	}
	return c.next.Marshal(v)
}

func (c simCodec) Unmarshal(data mem.BufferSlice, v any) error { return c.next.Unmarshal(data, v) }

// Field numbers (proto/mxprobe/v1/agent.proto): ConnectRequest.batch,
// ResultBatch.seq.
const (
	fieldConnectRequestBatch protowire.Number = 2
	fieldResultBatchSeq      protowire.Number = 1
)

// encodeResults is the encoding of a ResultBatch holding only results.
func encodeResults(results []*mxv1.CheckResult) ([]byte, error) {
	return proto.Marshal(&mxv1.ResultBatch{Results: results})
}

// encodeBatch is the ConnectRequest carrying the batch seq with the
// results encoded by encodeResults (fields of one message may be
// concatenated: seq, field 1, comes first as an encoder writes it).
func encodeBatch(seq uint64, results []byte) preEncoded {
	inner := protowire.SizeTag(fieldResultBatchSeq) + protowire.SizeVarint(seq) + len(results)
	b := make([]byte, 0, protowire.SizeTag(fieldConnectRequestBatch)+protowire.SizeBytes(inner))
	b = protowire.AppendTag(b, fieldConnectRequestBatch, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(inner))
	b = protowire.AppendTag(b, fieldResultBatchSeq, protowire.VarintType)
	b = protowire.AppendVarint(b, seq)
	return append(b, results...)
}
