package eventlog_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/agent/eventlog"
)

// As EvtRender(EvtRenderEventXml) renders a classic Exchange event.
const rendered12014 = `<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='MSExchangeFrontEndTransport'/><EventID Qualifiers='49156'>12014</EventID><Level>2</Level><Task>12</Task><Keywords>0x80000000000000</Keywords><TimeCreated SystemTime='2016-02-04T12:17:20.000000000Z'/><EventRecordID>88412</EventRecordID><Channel>Application</Channel><Computer>E19.contoso.lab</Computer><Security/></System><EventData><Data>mail.contoso.com</Data><Data>Default Frontend E19</Data><Data>mail.contoso.com</Data></EventData></Event>`

const rendered36888 = `<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Schannel' Guid='{1f678132-5938-4686-9fdc-c8ff68f15c85}'/><EventID>36888</EventID><Version>0</Version><Level>2</Level><TimeCreated SystemTime='2026-12-02T06:32:10.1180000Z'/><EventRecordID>5</EventRecordID><Channel>System</Channel><Computer>E19.contoso.lab</Computer><Security UserID='S-1-5-18'/></System><EventData><Data Name='AlertDesc'>40</Data><Data Name='ErrorState'>1205</Data></EventData></Event>`

func TestParseXML(t *testing.T) {
	e, err := eventlog.ParseXML([]byte(rendered12014))
	if err != nil {
		t.Fatal(err)
	}
	want := eventlog.Event{Provider: "MSExchangeFrontEndTransport", Channel: "Application", ID: 12014, Level: 2,
		Time: time.Date(2016, 2, 4, 12, 17, 20, 0, time.UTC), Computer: "E19.contoso.lab", RecordID: 88412,
		Data: []string{"mail.contoso.com", "Default Frontend E19", "mail.contoso.com"}, DataNames: []string{"", "", ""}}
	if !reflect.DeepEqual(e, want) {
		t.Fatalf("got %+v\nwant %+v", e, want)
	}
	s, err := eventlog.ParseXML([]byte(rendered36888))
	if err != nil {
		t.Fatal(err)
	}
	if s.ID != 36888 || s.Named("AlertDesc") != "40" || s.Named("errorstate") != "1205" || !eventlog.Wanted(s) {
		t.Fatalf("schannel event %+v", s)
	}
}

func TestParseXMLRefusesDamage(t *testing.T) {
	for _, in := range []string{"", "<Event>", "<Event><System><EventID>x</EventID></System></Event>", "<Other/>",
		strings.Repeat("<a>", 100) + strings.Repeat("</a>", 100)} {
		if _, err := eventlog.ParseXML([]byte(in)); !errors.Is(err, eventlog.ErrMalformed) {
			t.Errorf("%.40q: %v, want ErrMalformed", in, err)
		}
	}
}

func TestStructuredQueryNamesEveryEvent(t *testing.T) {
	q := eventlog.StructuredQuery(time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC))
	for _, s := range []string{"Path=\"Application\"", "Path=\"System\"", "MSExchangeFrontEndTransport", "EventID=12023", "EventID=36887",
		"@SystemTime&gt;='2026-12-02T00:00:00.000Z'"} {
		if !strings.Contains(q, s) {
			t.Errorf("query lacks %s:\n%s", s, q)
		}
	}
}
