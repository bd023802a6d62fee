package correlate

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// shallowClone copies every field of an incident: each one set (so a
// field added to the message and not to shallowClone fails here).
func TestShallowCloneCopiesEveryField(t *testing.T) {
	inc := &mxv1.Incident{}
	m := inc.ProtoReflect()
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		switch {
		case fd.IsMap():
			m.Mutable(fd).Map().Set(protoreflect.ValueOfString("k").MapKey(), protoreflect.ValueOfString("v"))
		case fd.IsList():
			l := m.Mutable(fd).List()
			if fd.Kind() == protoreflect.MessageKind {
				l.Append(l.NewElement())
			} else {
				l.Append(protoreflect.ValueOfString("x"))
			}
		case fd.Kind() == protoreflect.MessageKind:
			m.Mutable(fd)
		case fd.Kind() == protoreflect.StringKind:
			m.Set(fd, protoreflect.ValueOfString("x"))
		case fd.Kind() == protoreflect.BoolKind:
			m.Set(fd, protoreflect.ValueOfBool(true))
		case fd.Kind() == protoreflect.EnumKind:
			m.Set(fd, protoreflect.ValueOfEnum(1))
		case fd.Kind() == protoreflect.Uint32Kind:
			m.Set(fd, protoreflect.ValueOfUint32(7))
		case fd.Kind() == protoreflect.Uint64Kind:
			m.Set(fd, protoreflect.ValueOfUint64(7))
		default:
			t.Fatalf("field %s of kind %s: teach this test to set it", fd.Name(), fd.Kind())
		}
		if !m.Has(fd) {
			t.Fatalf("field %s not set", fd.Name())
		}
	}
	c := shallowClone(inc)
	for i := range fields.Len() {
		if fd := fields.Get(i); !c.ProtoReflect().Has(fd) {
			t.Errorf("shallowClone leaves out %s", fd.Name())
		}
	}
	if !proto.Equal(c, inc) {
		t.Fatal("the clone differs from the incident")
	}
}
