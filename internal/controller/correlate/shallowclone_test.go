package correlate

import (
	"testing"

	"google.golang.org/protobuf/proto"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/prototest"
)

// shallowClone copies every field of an incident: each one set (so a
// field added to the message and not to shallowClone fails here).
func TestShallowCloneCopiesEveryField(t *testing.T) {
	inc := &mxv1.Incident{}
	prototest.FillEvery(t, inc)
	fields := inc.ProtoReflect().Descriptor().Fields()
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
