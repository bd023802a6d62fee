package incident

import (
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// Material compares fields one by one; it must say what proto.Equal of the
// two material views says, for a change of any field of the incident, of
// a member or of a member's finding (a field added to the messages later
// is covered too: the fields are enumerated, not listed).
func TestMaterialEqualIsEqualOfViews(t *testing.T) {
	base := sampleIncident()
	want := func(a, b *mxv1.Incident) bool { return !proto.Equal(materialView(a), materialView(b)) }
	check := func(what string, b *mxv1.Incident) {
		t.Helper()
		if got, w := Material(base, b), want(base, b); got != w {
			t.Errorf("%s: Material %v, proto.Equal of the views says %v", what, got, w)
		}
		if got, w := Material(b, base), want(b, base); got != w {
			t.Errorf("%s (reversed): Material %v, proto.Equal of the views says %v", what, got, w)
		}
	}
	check("a copy", proto.CloneOf(base))
	changes := 0
	for _, change := range changesOf(base.ProtoReflect()) {
		b := proto.CloneOf(base)
		change(b.ProtoReflect())
		check("incident", b)
		changes++
	}
	for i := range base.GetMembers() {
		for _, change := range changesOf(base.GetMembers()[i].ProtoReflect()) {
			b := proto.CloneOf(base)
			change(b.GetMembers()[i].ProtoReflect())
			check(fmt.Sprintf("member %d", i), b)
			changes++
		}
		for _, change := range changesOf(base.GetMembers()[i].GetFinding().ProtoReflect()) {
			b := proto.CloneOf(base)
			change(b.GetMembers()[i].GetFinding().ProtoReflect())
			check(fmt.Sprintf("finding of member %d", i), b)
			changes++
		}
	}
	if changes < 60 {
		t.Fatalf("only %d changes tried", changes)
	}
}

// equal (Advance's comparison) says what proto.Equal says for a change of
// any field of the incident, of a member or of a member's finding, and
// compares every field the message has.
func TestEqualIsProtoEqual(t *testing.T) {
	base := sampleIncident()
	if n := base.ProtoReflect().Descriptor().Fields().Len(); n != incidentFields {
		t.Fatalf("Incident has %d fields, equal compares %d: compare the new ones", n, incidentFields)
	}
	check := func(what string, b *mxv1.Incident) {
		t.Helper()
		if got, want := equal(base, b), proto.Equal(base, b); got != want {
			t.Errorf("%s: equal %v, proto.Equal %v", what, got, want)
		}
		if got, want := equal(b, base), proto.Equal(b, base); got != want {
			t.Errorf("%s (reversed): equal %v, proto.Equal %v", what, got, want)
		}
	}
	check("a copy", proto.CloneOf(base))
	for _, change := range changesOf(base.ProtoReflect()) {
		b := proto.CloneOf(base)
		change(b.ProtoReflect())
		check("incident", b)
	}
	for i := range base.GetMembers() {
		for _, change := range changesOf(base.GetMembers()[i].ProtoReflect()) {
			b := proto.CloneOf(base)
			change(b.GetMembers()[i].ProtoReflect())
			check(fmt.Sprintf("member %d", i), b)
		}
		for _, change := range changesOf(base.GetMembers()[i].GetFinding().ProtoReflect()) {
			b := proto.CloneOf(base)
			change(b.GetMembers()[i].GetFinding().ProtoReflect())
			check(fmt.Sprintf("finding of member %d", i), b)
		}
	}
	b := proto.CloneOf(base)
	b.ProtoReflect().SetUnknown(protoreflect.RawFields{0xf8, 0x3f, 0x01}) // field 1023, varint 1
	check("unknown field", b)
}

func sampleIncident() *mxv1.Incident {
	at := timestamppb.New(timestamppb.Now().AsTime().Truncate(1e9))
	member := func(i int) *mxv1.IncidentMember {
		return &mxv1.IncidentMember{AgentId: fmt.Sprintf("a%d", i), Site: "s", Hostname: "h", Check: "c", Target: "t", ObservedAt: at, CommittedAt: at, Role: "peer",
			Finding: &mxv1.Finding{Code: "C", Severity: mxv1.Severity_SEVERITY_ERROR, Subject: "x", Summary: "y", Evidence: map[string]string{"k": "v"}}}
	}
	return &mxv1.Incident{Id: "inc-1", Fingerprint: "fp", Scope: mxv1.IncidentScope_INCIDENT_SCOPE_SERVER, Cause: "C", Subject: "s",
		Severity: mxv1.Severity_SEVERITY_ERROR, State: mxv1.IncidentState_INCIDENT_STATE_OPEN, Sequence: 3, FirstSeen: at, LastSeen: at, OpenedAt: at,
		AcknowledgedAt: at, ResolvedAt: at, UpdatedAt: at, Summary: "sum", RootCause: &mxv1.RootCause{Code: "C", Subject: "s"}, Remediation: "fix",
		Direction: mxv1.FlowDirection_FLOW_DIRECTION_INBOUND, DirectionDetail: "d", Agents: []string{"a0", "a1"}, Hosts: []string{"h"}, Sites: []string{"s"},
		Members: []*mxv1.IncidentMember{member(0), member(1)}, MembersTotal: 2, Timeline: []*mxv1.TimelineEntry{{At: at, Kind: KindOpened, Sequence: 1}},
		Observations: 2, CleanObservations: 1, LastObservedAt: at, Occurrence: 1, Stale: true, ExternalRefs: map[string]string{"jira": "OPS-1"}, Revision: 4}
}

// changesOf lists, for every field of m, changes of its value: cleared,
// set to another value, and (messages, lists, maps) emptied or grown.
func changesOf(m protoreflect.Message) []func(protoreflect.Message) {
	var out []func(protoreflect.Message)
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		out = append(out, func(x protoreflect.Message) { x.Clear(fd) })
		switch {
		case fd.IsList():
			out = append(out, func(x protoreflect.Message) {
				l := x.Mutable(fd).List()
				if fd.Kind() == protoreflect.MessageKind {
					l.Append(protoreflect.ValueOfMessage(l.NewElement().Message()))
				} else {
					l.Append(other(fd, protoreflect.Value{}))
				}
			})
			out = append(out, func(x protoreflect.Message) { x.Set(fd, x.NewField(fd)) })
		case fd.IsMap():
			out = append(out, func(x protoreflect.Message) {
				x.Mutable(fd).Map().Set(protoreflect.ValueOfString("new").MapKey(), protoreflect.ValueOfString("v"))
			})
		case fd.Kind() == protoreflect.MessageKind:
			out = append(out, func(x protoreflect.Message) { x.Set(fd, protoreflect.ValueOfMessage(x.NewField(fd).Message())) })
			out = append(out, func(x protoreflect.Message) {
				sub := x.Mutable(fd).Message()
				if f := sub.Descriptor().Fields().Get(0); !f.IsList() && !f.IsMap() && f.Kind() != protoreflect.MessageKind {
					sub.Set(f, other(f, sub.Get(f)))
				}
			})
		default:
			out = append(out, func(x protoreflect.Message) { x.Set(fd, other(fd, x.Get(fd))) })
		}
	}
	return out
}

// other is a value of fd's kind that differs from v.
func other(fd protoreflect.FieldDescriptor, v protoreflect.Value) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(v.String() + "x")
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(!v.Bool())
	case protoreflect.EnumKind:
		return protoreflect.ValueOfEnum(v.Enum() + 1)
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(int32(v.Int()) + 1)
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(v.Int() + 1)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(uint32(v.Uint()) + 1)
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(v.Uint() + 1)
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(v.Float() + 1)
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(float32(v.Float()) + 1)
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes(append(append([]byte{}, v.Bytes()...), 'x'))
	}
	panic(fmt.Sprintf("no other value for %v", fd.Kind()))
}
