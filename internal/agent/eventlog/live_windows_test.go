//go:build windows

package eventlog_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/windows"

	"github.com/mxprobe/mxprobe/internal/agent/eventlog"
)

func underWine() bool {
	return windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version").Find() == nil
}

// TestLiveReadsSeededEvent writes a 12014 as MSExchangeTransport through
// advapi32's ReportEvent and reads it back through wevtapi. On Windows the
// event comes back with its insertion strings. Under Wine 8 ReportEvent
// succeeds (Wine only traces it, on its eventlog debug channel; nothing is
// stored) and EvtQuery is a stub that returns NULL: Read must then fail
// with ErrUnavailable, never return an empty, healthy-looking result.
func TestLiveReadsSeededEvent(t *testing.T) {
	before := time.Now().Add(-time.Minute)
	src, err := windows.UTF16PtrFromString(eventlog.ProviderTransport)
	if err != nil {
		t.Fatal(err)
	}
	h, err := windows.RegisterEventSource(nil, src)
	if err != nil {
		t.Fatalf("RegisterEventSource: %v", err)
	}
	defer windows.DeregisterEventSource(h)
	strs := []string{"mail.contoso.com", "Default Frontend mxprobe-test", "mail.contoso.com"}
	var ptrs []*uint16
	for _, s := range strs {
		p, _ := windows.UTF16PtrFromString(s)
		ptrs = append(ptrs, p)
	}
	if err := windows.ReportEvent(h, windows.EVENTLOG_ERROR_TYPE, 0, 0xC0000000|eventlog.IDStartTLSCertNotFound, 0, uint16(len(ptrs)), 0, &ptrs[0], nil); err != nil {
		t.Fatalf("ReportEvent: %v", err)
	}
	res, err := eventlog.Live{}.Read(context.Background(), eventlog.Query{Since: before})
	if underWine() {
		if !errors.Is(err, eventlog.ErrUnavailable) {
			t.Fatalf("under Wine: Read = %+v, %v; want ErrUnavailable (EvtQuery is a stub)", res, err)
		}
		t.Logf("under Wine: ReportEvent succeeded, Read: %v", err)
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range res.Events {
		if e.ID == eventlog.IDStartTLSCertNotFound && e.Arg(2) == strs[1] {
			return
		}
	}
	t.Fatalf("seeded 12014 not read back among %d events", len(res.Events))
}
