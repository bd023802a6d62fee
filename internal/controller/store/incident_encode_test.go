package store

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// fill sets every field of m (p: the chance of setting each, 1 for all)
// to a random non-default value, messages down to depth levels.
func fill(rng *rand.Rand, m protoreflect.Message, p float64, depth int) {
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if rng.Float64() >= p {
			continue
		}
		switch {
		case fd.IsMap():
			mp := m.Mutable(fd).Map()
			for range 1 + rng.IntN(3) {
				mp.Set(scalar(rng, fd.MapKey()).MapKey(), valueOf(rng, m, fd, fd.MapValue(), p, depth))
			}
		case fd.IsList():
			l := m.Mutable(fd).List()
			for range 1 + rng.IntN(3) {
				if fd.Kind() == protoreflect.MessageKind {
					if depth <= 0 {
						break
					}
					e := l.NewElement()
					fill(rng, e.Message(), p, depth-1)
					l.Append(e)
					continue
				}
				l.Append(scalar(rng, fd))
			}
		case fd.Kind() == protoreflect.MessageKind:
			if depth > 0 {
				fill(rng, m.Mutable(fd).Message(), p, depth-1)
			}
		default:
			m.Set(fd, scalar(rng, fd))
		}
	}
}

func valueOf(rng *rand.Rand, m protoreflect.Message, mapField, fd protoreflect.FieldDescriptor, p float64, depth int) protoreflect.Value {
	if fd.Kind() == protoreflect.MessageKind {
		v := m.Mutable(mapField).Map().NewValue()
		fill(rng, v.Message(), p, depth-1)
		return v
	}
	return scalar(rng, fd)
}

// scalar is a random non-zero value of fd's kind.
func scalar(rng *rand.Rand, fd protoreflect.FieldDescriptor) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(true)
	case protoreflect.EnumKind:
		vals := fd.Enum().Values()
		return protoreflect.ValueOfEnum(vals.Get(1 + rng.IntN(vals.Len()-1)).Number())
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(1 + rng.Int32N(1<<20))
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(1 + rng.Int64N(1<<40))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(1 + rng.Uint32N(1<<20))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(1 + rng.Uint64N(1<<40))
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(1 + rng.Float32())
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(1 + rng.Float64())
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(fmt.Sprintf("s%d", rng.IntN(1000)))
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes([]byte{byte(1 + rng.IntN(255))})
	}
	panic(fmt.Sprintf("kind %v", fd.Kind()))
}

func randomMember(rng *rand.Rand, p float64) *mxv1.IncidentMember {
	m := &mxv1.IncidentMember{}
	fill(rng, m.ProtoReflect(), p, 3)
	return m
}

// randomIncident is an incident with every field random (p: the chance of
// each being set) except its members.
func randomIncident(rng *rand.Rand, p float64) *mxv1.Incident {
	inc := &mxv1.Incident{}
	fill(rng, inc.ProtoReflect(), p, 3)
	inc.Members = nil
	return inc
}

func correlateCommand(rng *rand.Rand, c *mxv1.CorrelateIncidents) *mxv1.Command {
	return &mxv1.Command{ProposedAt: &timestamppb.Timestamp{Seconds: 1.7e9 + rng.Int64N(1e8), Nanos: rng.Int32N(1e9)}, Kind: &mxv1.Command_CorrelateIncidents{CorrelateIncidents: c}}
}

// TestIncidentEncoderEqualsEncodeCommand: over random rounds in which
// incidents keep their member lists, change some members, drop, add and
// reorder them, the encoder gives encodeCommand's bytes.
func TestIncidentEncoderEqualsEncodeCommand(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 20))
	var e incidentEncoder
	lists := map[string][]*mxv1.IncidentMember{}
	var ids []string
	for i := range 40 {
		ids = append(ids, fmt.Sprintf("inc-%02d", i))
	}
	for round := range 30 {
		c := &mxv1.CorrelateIncidents{}
		for _, id := range ids {
			if rng.IntN(3) == 0 {
				continue // not in this round
			}
			ms := lists[id]
			switch rng.IntN(6) {
			case 0: // the same list
			case 1: // a new list
				ms = nil
				for range rng.IntN(8) {
					ms = append(ms, randomMember(rng, 0.7))
				}
			case 2: // one member replaced
				if len(ms) > 0 {
					ms = slices.Clone(ms)
					ms[rng.IntN(len(ms))] = randomMember(rng, 0.7)
				}
			case 3: // one dropped, one added somewhere
				ms = slices.Clone(ms)
				if len(ms) > 0 {
					k := rng.IntN(len(ms))
					ms = slices.Delete(ms, k, k+1)
				}
				ms = slices.Insert(ms, rng.IntN(len(ms)+1), randomMember(rng, 0.7))
			case 4: // reordered
				ms = slices.Clone(ms)
				rng.Shuffle(len(ms), func(i, j int) { ms[i], ms[j] = ms[j], ms[i] })
			case 5: // a shorter list of the same array
				if len(ms) > 1 {
					ms = ms[:len(ms)-1]
				}
			}
			if rng.IntN(20) == 0 {
				ms = append(slices.Clone(ms), nil)
			}
			lists[id] = ms
			inc := randomIncident(rng, 0.6)
			inc.Id, inc.Members = id, ms
			c.Upserts = append(c.Upserts, inc)
		}
		for range rng.IntN(3) {
			c.Deletes = append(c.Deletes, &mxv1.IncidentRef{Id: fmt.Sprintf("gone-%d", rng.IntN(100)), Sequence: rng.Uint64N(9), Revision: rng.Uint64N(9)})
		}
		cmd := correlateCommand(rng, c)
		got := encodesAsCommand(t, &e, cmd, fmt.Sprintf("round %d", round))
		back, err := decodeCommand(got)
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(back, cmd) {
			t.Fatalf("round %d: the encoding does not decode to the command", round)
		}
	}
}

// TestSplitIncidentCoversEveryField: with every field of an incident (and
// of its members) set, and unknown fields, the encoder still gives
// encodeCommand's bytes; a field splitIncident leaves out (a new one in
// incident.proto) fails here.
func TestSplitIncidentCoversEveryField(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	inc := &mxv1.Incident{}
	fill(rng, inc.ProtoReflect(), 1, 3)
	fields := inc.ProtoReflect().Descriptor().Fields()
	for i := range fields.Len() {
		if fd := fields.Get(i); !inc.ProtoReflect().Has(fd) {
			t.Fatalf("fill left %s unset", fd.Name())
		}
	}
	head, tail := splitIncident(inc)
	for i := range fields.Len() {
		fd := fields.Get(i)
		n := 0
		for _, part := range []*mxv1.Incident{head, tail} {
			if part.ProtoReflect().Has(fd) {
				n++
			}
		}
		if want := map[bool]int{true: 0, false: 1}[fd.Number() == fieldIncidentMembers]; n != want {
			t.Errorf("field %s is in %d of head and tail, want %d", fd.Name(), n, want)
		}
	}
	inc.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 5))
	var e incidentEncoder
	for round := range 3 {
		cmd := correlateCommand(rng, &mxv1.CorrelateIncidents{Upserts: []*mxv1.Incident{inc}, Deletes: []*mxv1.IncidentRef{{Id: "x", Sequence: 1, Revision: 2}}})
		encodesAsCommand(t, &e, cmd, fmt.Sprintf("round %d: every field set", round))
	}
}

// encodesAsCommand fails t unless e encodes cmd to encodeCommand's bytes,
// and returns them; what names the case in the failure.
func encodesAsCommand(t *testing.T, e *incidentEncoder, cmd *mxv1.Command, what string) []byte {
	t.Helper()
	want, err := encodeCommand(cmd)
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.encode(cmd)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: the encoder's %d bytes differ from encodeCommand's %d", what, len(got), len(want))
	}
	return got
}
