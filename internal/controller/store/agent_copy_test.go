package store

import (
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/prototest"
)

// Every field of Agent, set by reflection, so a field added to the message
// without copyAgent learning it fails here.
func TestCopyAgentCopiesEveryField(t *testing.T) {
	a := &mxv1.Agent{}
	prototest.FillEvery(t, a)
	m := a.ProtoReflect()
	c := copyAgent(a)
	if !proto.Equal(c, a) {
		t.Fatalf("copy %v\nof %v", c, a)
	}
	if c == a {
		t.Fatal("copyAgent returned the agent itself")
	}
	// Unknown fields (a newer binary's) survive too.
	m.SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 7))
	if c := copyAgent(a); !proto.Equal(c, a) {
		t.Fatalf("copy with unknown fields %v\nof %v", c, a)
	}
}
