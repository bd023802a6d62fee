package queue

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
)

func TestParseGetQueueArrayIntStatus(t *testing.T) {
	// Windows PowerShell 5.1 in a local EMS: enums as ints, dates as \/Date()\/.
	in := `[
    {
        "DeliveryType":  13,
        "NextHopDomain":  "exchangelabsnl.mail.onmicrosoft.com",
        "TlsPolicy":  null,
        "NextHopConnector":  "9a1e0a1c-5f1e-4f3b-8e3f-8c2f7d0e4b11",
        "Status":  3,
        "MessageCount":  17,
        "LastError":  "[{LED=451 4.4.395 Target host responded with error. -\u003e 421 4.4.1 Connection timed out};{MSG=};{FQDN=exchangelabsnl-mail-onmicrosoft-com.mail.protection.outlook.com};{IP=};{LRT=5/2/2019 6:32:14 AM}]",
        "LastRetryTime":  "\/Date(1556778734000)\/",
        "NextRetryTime":  "\/Date(1556779334000)\/",
        "Identity":  "EDGE2019\\3",
        "IsValid":  true
    },
    {"Identity": "EDGE2019\\Submission", "DeliveryType": 0, "Status": 2, "MessageCount": 0, "NextHopDomain": "Submission", "LastError": null}
]`
	s, err := ParseBytes([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Queues) != 2 {
		t.Fatalf("%+v", s)
	}
	q := s.Queues[0]
	if q.Identity != `EDGE2019\3` || q.Status != StatusRetry || !q.Status.IsRetry() || q.MessageCount != 17 || q.DeliveryType != "13" ||
		q.NextHopDomain != "exchangelabsnl.mail.onmicrosoft.com" || !strings.HasPrefix(q.LastError, "[{LED=451") {
		t.Errorf("%+v", q)
	}
	if !q.LastRetryTime.Equal(time.Unix(1556778734, 0)) {
		t.Errorf("lrt %v", q.LastRetryTime)
	}
	if !q.Classify().Matched(SigTargetHostTimeout) {
		t.Error("seed LastError not classified")
	}
	if s.Queues[1].Status != StatusReady || s.Queues[1].LastError != "" {
		t.Errorf("%+v", s.Queues[1])
	}
}

func TestParseSingleObjectStringStatusUTF16(t *testing.T) {
	// Remote session / PowerShell 7: enum as string, ISO dates; written by
	// Out-File in PS 5.1 as UTF-16LE with BOM.
	in := `{"Identity":"EX01\\12","NextHopDomain":"contoso.com","Status":"retry","MessageCount":"4","LastError":"451 5.7.3 STARTTLS is required to send mail","LastRetryTime":"2024-05-13T14:03:00.1234567+02:00"}`
	u := utf16.Encode([]rune(in))
	b := []byte{0xFF, 0xFE}
	for _, c := range u {
		b = append(b, byte(c), byte(c>>8))
	}
	s, err := Parse(context.Background(), strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	q := s.Queues[0]
	if q.Status != StatusRetry || q.MessageCount != 4 || q.LastRetryTime.Hour() != 12 {
		t.Errorf("%+v", q)
	}
	if !q.Classify().Matched(SigStartTLSRequired) {
		t.Error("not classified")
	}
}

func TestParseEnvelopeAndOddities(t *testing.T) {
	in := `{"format":"mxprobe-queue/1","server":"EDGE01","collected":"2019-05-02T06:35:00Z","queues":[
	  {"Identity":{"Server":"EDGE01","RowId":3,"Type":"Delivery"},"Status":{"value":5,"DisplayHint":0},"MessageCount":{"value":2},"NextHopDomain":"x"},
	  42, "str", null, {},
	  {"Identity":"EDGE01\\4","Status":99}
	]}`
	s, err := ParseBytes([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if s.Server != "EDGE01" || s.Format != "mxprobe-queue/1" || s.Collected.IsZero() || len(s.Queues) != 2 || s.Skipped != 4 {
		t.Fatalf("%+v", s)
	}
	if s.Queues[0].Identity != `EDGE01\3` || s.Queues[0].Status != StatusConnecting || s.Queues[0].MessageCount != 2 {
		t.Errorf("%+v", s.Queues[0])
	}
	if s.Queues[1].Status != "Unknown(99)" {
		t.Errorf("%+v", s.Queues[1])
	}
}

func TestParseErrors(t *testing.T) {
	if _, err := ParseBytes([]byte("  \r\n")); !errors.Is(err, ErrEmpty) {
		t.Error(err)
	}
	if _, err := ParseBytes([]byte("Identity : EDGE01\\3")); !errors.Is(err, ErrNotJSON) {
		t.Error(err)
	}
	if _, err := ParseBytes([]byte(`"x"`)); !errors.Is(err, ErrNotJSON) {
		t.Error(err)
	}
	if s, err := ParseBytes([]byte("null")); err != nil || len(s.Queues) != 0 {
		t.Error(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Parse(ctx, strings.NewReader("[]")); !errors.Is(err, context.Canceled) {
		t.Error(err)
	}
	if _, err := ParseFile(context.Background(), "testdata/does-not-exist.json"); err == nil {
		t.Error("no error for missing file")
	}
}

func TestParseTestdata(t *testing.T) {
	s, err := ParseFile(context.Background(), "testdata/get-queue-seed.json")
	if err != nil {
		t.Fatal(err)
	}
	var retry int
	for _, q := range s.Queues {
		if q.Status.IsRetry() && q.Classify().Connection {
			retry++
		}
	}
	if retry != 1 {
		t.Fatalf("%+v", s)
	}
}
