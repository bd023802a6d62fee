// Package prototest helps tests of hand-written protobuf copies: FillEvery
// sets every field of a message, so a copy that leaves out a field added to
// the message later fails its test.
package prototest

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// FillEvery sets every field of m (one level deep: a message field gets its
// own scalar fields set) to a non-zero value that differs per field, and
// fails the test for a kind it cannot set.
func FillEvery(t testing.TB, m proto.Message) {
	t.Helper()
	fill(t, m.ProtoReflect(), 1)
}

func fill(t testing.TB, m protoreflect.Message, depth int) {
	t.Helper()
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		switch {
		case fd.IsMap():
			mp := m.Mutable(fd).Map()
			k, ok1 := scalar(fd.MapKey(), i)
			v, ok2 := scalar(fd.MapValue(), i)
			if !ok1 || !ok2 {
				t.Fatalf("field %s: map of %s to %s: teach prototest to set it", fd.FullName(), fd.MapKey().Kind(), fd.MapValue().Kind())
			}
			mp.Set(k.MapKey(), v)
		case fd.IsList():
			l := m.Mutable(fd).List()
			if fd.Kind() == protoreflect.MessageKind {
				e := l.NewElement()
				if depth > 0 {
					fill(t, e.Message(), depth-1)
				}
				l.Append(e)
				continue
			}
			v, ok := scalar(fd, i)
			if !ok {
				t.Fatalf("field %s: list of %s: teach prototest to set it", fd.FullName(), fd.Kind())
			}
			l.Append(v)
		case fd.Kind() == protoreflect.MessageKind:
			sub := m.Mutable(fd).Message()
			if depth > 0 {
				fill(t, sub, depth-1)
			}
		default:
			v, ok := scalar(fd, i)
			if !ok {
				t.Fatalf("field %s of kind %s: teach prototest to set it", fd.FullName(), fd.Kind())
			}
			m.Set(fd, v)
		}
		if !m.Has(fd) {
			t.Fatalf("field %s not set", fd.FullName())
		}
	}
}

// scalar is a non-zero value of fd's kind, distinct per index i.
func scalar(fd protoreflect.FieldDescriptor, i int) (protoreflect.Value, bool) {
	n := i + 1
	switch fd.Kind() {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(string(fd.Name())), true
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes([]byte(fd.Name())), true
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(true), true
	case protoreflect.EnumKind:
		return protoreflect.ValueOfEnum(1), true
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(int32(n)), true
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(int64(n)), true
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(uint32(n)), true
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(uint64(n)), true
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(float64(n)), true
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(float32(n)), true
	}
	return protoreflect.Value{}, false
}
