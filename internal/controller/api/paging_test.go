package api

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
)

func sortedIncidents(incs []*mxv1.Incident) []*mxv1.Incident {
	sort.Slice(incs, func(i, j int) bool { return incident.Less(incs[i], incs[j]) })
	return incs
}

// Keyed cursors: an incident that appears before the cursor, or one whose
// observation counters and last-seen time move, does not shift the next
// page; a token past the end is an error, a forged one too.
func TestIncidentPagesAreKeyed(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC)
	var all []*mxv1.Incident
	for i := range 10 {
		all = append(all, &mxv1.Incident{Id: fmt.Sprintf("inc-%02d", i), Severity: mxv1.Severity_SEVERITY_ERROR,
			FirstSeen: timestamppb.New(t0.Add(time.Duration(i) * time.Minute))})
	}
	all = sortedIncidents(all)
	page1, next, err := incidentPage(all, "", 4)
	if err != nil || len(page1) != 4 || next == "" {
		t.Fatalf("page 1: %d %q %v", len(page1), next, err)
	}
	// Meanwhile a new critical incident sorts first and every incident is
	// observed again (last_seen moves).
	changed := append([]*mxv1.Incident{{Id: "inc-new", Severity: mxv1.Severity_SEVERITY_CRITICAL, FirstSeen: timestamppb.New(t0)}}, all...)
	for _, inc := range changed {
		inc.LastSeen, inc.Observations = timestamppb.New(t0.Add(time.Hour)), inc.Observations+1
	}
	changed = sortedIncidents(changed)
	page2, next2, err := incidentPage(changed, next, 4)
	if err != nil || len(page2) != 4 || page2[0].GetId() != all[4].GetId() {
		t.Fatalf("page 2 starts at %v (%v), want %s right after page 1", page2, err, all[4].GetId())
	}
	page3, next3, err := incidentPage(changed, next2, 4)
	if err != nil || len(page3) != 2 || next3 != "" {
		t.Fatalf("last page: %d %q %v", len(page3), next3, err)
	}
	last := encodeIncidentToken(incident.KeyOf(changed[len(changed)-1]))
	if _, _, err := incidentPage(changed, last, 4); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("token past the end: %v", err)
	}
	if _, _, err := incidentPage(changed, "bm90LWEtdG9rZW4", 4); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("forged token: %v", err)
	}
	if page, next, err := incidentPage(nil, "", 4); err != nil || page == nil && len(page) != 0 || next != "" {
		t.Fatalf("empty list: %v %q %v", page, next, err)
	}
}

// Delivery pages are keyed by enqueue order: deliveries enqueued while a
// client pages (they sort last) and ones before the cursor changing status
// neither repeat nor skip an entry; a token past the end is an error.
func TestDeliveryPagesAreKeyed(t *testing.T) {
	var all []*mxv1.Delivery
	for i := range 5 {
		all = append(all, &mxv1.Delivery{Id: fmt.Sprintf("ops/msg_%d", i), Order: uint64(10 + i)})
	}
	page1, next, err := deliveryPage(all, "", 2)
	if err != nil || len(page1) != 2 || next == "" {
		t.Fatalf("page 1: %d %q %v", len(page1), next, err)
	}
	// The first delivery leaves a status-filtered listing; two are enqueued.
	changed := append(append([]*mxv1.Delivery{}, all[1:]...), &mxv1.Delivery{Id: "ops/msg_5", Order: 15}, &mxv1.Delivery{Id: "ops/msg_6", Order: 16})
	var ids []string
	for _, d := range page1 {
		ids = append(ids, d.GetId())
	}
	for tok := next; tok != ""; {
		page, n, err := deliveryPage(changed, tok, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range page {
			ids = append(ids, d.GetId())
		}
		tok = n
	}
	want := []string{"ops/msg_0", "ops/msg_1", "ops/msg_2", "ops/msg_3", "ops/msg_4", "ops/msg_5", "ops/msg_6"}
	if fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Fatalf("paged %v, want %v", ids, want)
	}
	if _, _, err := deliveryPage(changed, encodeDeliveryToken(16), 2); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("token past the end: %v", err)
	}
	if _, _, err := deliveryPage(changed, encodeIncidentToken(incident.KeyOf(&mxv1.Incident{Id: "inc-1"})), 2); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("an incident token for deliveries: %v", err)
	}
}
