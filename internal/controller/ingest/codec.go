package ingest

import (
	"fmt"

	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/batchpb"
)

// rawRequest is a ConnectRequest together with the wire bytes of its
// ResultBatch, so the committer can put those bytes into the raft entry as
// they arrived instead of encoding the decoded batch again. batch is nil
// when the server runs without ServerCodec, or the request was anything but
// exactly one batch field (then the batch is encoded from the message).
type rawRequest struct {
	mxv1.ConnectRequest
	batch []byte
}

// ServerCodec is grpc-go's proto codec, except that it keeps the bytes of
// ConnectRequest batches the Connect handler receives (install it with
// grpc.ForceServerCodecV2). Every other message is left to the proto codec.
func ServerCodec() encoding.CodecV2 {
	return rawCodec{next: encoding.GetCodecV2(grpcproto.Name)}
}

type rawCodec struct{ next encoding.CodecV2 }

func (c rawCodec) Name() string { return grpcproto.Name }

func (c rawCodec) Marshal(v any) (mem.BufferSlice, error) { return c.next.Marshal(v) }

func (c rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	r, ok := v.(*rawRequest)
	if !ok {
		return c.next.Unmarshal(data, v)
	}
	// An owned copy: grpc-go recycles data's buffers after this returns,
	// and the batch's bytes live until its raft entry is applied.
	buf := data.Materialize()
	if err := batchpb.UnmarshalConnectRequest(buf, &r.ConnectRequest); err != nil {
		return fmt.Errorf("ingest: decode ConnectRequest: %w", err)
	}
	r.batch = batchField(buf)
	return nil
}

// connectRequestBatch is ConnectRequest.batch's field number
// (proto/mxprobe/v1/agent.proto).
const connectRequestBatch protowire.Number = 2

// batchField returns the value of b's batch field when b is exactly one
// such field, so the bytes are precisely what the decoded batch came from
// (a repeated or mixed oneof would merge or replace on decoding), else nil.
func batchField(b []byte) []byte {
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 || num != connectRequestBatch || typ != protowire.BytesType {
		return nil
	}
	v, m := protowire.ConsumeBytes(b[n:])
	if m < 0 || n+m != len(b) {
		return nil
	}
	return v
}
