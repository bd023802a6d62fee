package stream

import (
	"errors"
	"testing"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

func TestMemOutboxOrderTrimAndBound(t *testing.T) {
	o := NewMemOutbox(3, 10)
	if err := o.Append(&mxv1.ResultBatch{Seq: 10}); err == nil {
		t.Fatal("accepted a sequence at or below LastSeq")
	}
	for seq := uint64(11); seq <= 13; seq++ {
		if err := o.Append(&mxv1.ResultBatch{Seq: seq}); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.Append(&mxv1.ResultBatch{Seq: 14}); !errors.Is(err, ErrOutboxFull) {
		t.Fatalf("4th batch in a 3-batch outbox: %v", err)
	}
	if p := o.Pending(0); len(p) != 3 || p[0].GetSeq() != 12 || p[2].GetSeq() != 14 {
		t.Fatalf("pending = %v, want 12..14 (oldest dropped)", p)
	}
	if p := o.Pending(12); len(p) != 2 || p[0].GetSeq() != 13 {
		t.Fatalf("pending after 12 = %v", p)
	}
	o.Trim(13)
	if o.Len() != 1 || o.LastSeq() != 14 {
		t.Fatalf("after trim: len %d last %d", o.Len(), o.LastSeq())
	}
	o.Trim(20) // the controller knows more (state dir lost): never reuse
	if o.LastSeq() != 20 || o.Len() != 0 {
		t.Fatalf("after trim above last: len %d last %d", o.Len(), o.LastSeq())
	}
}
