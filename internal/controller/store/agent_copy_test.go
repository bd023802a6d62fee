package store

import (
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// Every field of Agent, set by reflection, so a field added to the message
// without copyAgent learning it fails here.
func TestCopyAgentCopiesEveryField(t *testing.T) {
	a := &mxv1.Agent{}
	m := a.ProtoReflect()
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		switch {
		case fd.IsMap():
			m.Mutable(fd).Map().Set(protoreflect.ValueOfString("k").MapKey(), protoreflect.ValueOfString("v"))
		case fd.IsList():
			m.Mutable(fd).List().Append(protoreflect.ValueOfEnum(1))
		case fd.Kind() == protoreflect.MessageKind:
			sub := m.Mutable(fd).Message()
			sf := sub.Descriptor().Fields().Get(0)
			switch sf.Kind() {
			case protoreflect.Int64Kind:
				sub.Set(sf, protoreflect.ValueOfInt64(int64(i+1)))
			case protoreflect.Uint64Kind:
				sub.Set(sf, protoreflect.ValueOfUint64(uint64(i+1)))
			default:
				t.Fatalf("field %s.%s: kind %s not handled by this test", fd.Name(), sf.Name(), sf.Kind())
			}
		case fd.Kind() == protoreflect.StringKind:
			m.Set(fd, protoreflect.ValueOfString(string(fd.Name())))
		case fd.Kind() == protoreflect.Uint64Kind:
			m.Set(fd, protoreflect.ValueOfUint64(uint64(i+1)))
		default:
			t.Fatalf("field %s: kind %s not handled by this test", fd.Name(), fd.Kind())
		}
	}
	for i := range fields.Len() {
		if !m.Has(fields.Get(i)) {
			t.Fatalf("field %s not set", fields.Get(i).Name())
		}
	}
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
