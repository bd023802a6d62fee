package queue

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/agent/powershell"
	"github.com/mxprobe/mxprobe/internal/agent/powershell/pstest"
)

// selectClause returns the property list of the script's Select-Object,
// with calculated properties reduced to their names.
func selectClause(t *testing.T) []string {
	t.Helper()
	m := regexp.MustCompile(`Get-Queue \| Select-Object (.*)\)\n`).FindStringSubmatch(CollectorScript())
	if m == nil {
		t.Fatal("script has no Get-Queue | Select-Object pipeline")
	}
	list := regexp.MustCompile(`@\{Name = '(\w+)'; Expression = \{[^}]*\}\}`).ReplaceAllString(m[1], "$1")
	return strings.Split(list, ",")
}

func TestCollectorScriptSelectsEveryParsedProperty(t *testing.T) {
	selected := selectClause(t)
	if !reflect.DeepEqual(selected, CollectorProperties) {
		t.Errorf("script selects %q, CollectorProperties = %q", selected, CollectorProperties)
	}
	// Every field Queue decodes is selected (the parser reads nothing else).
	var want []string
	rt := reflect.TypeFor[Queue]()
	for i := range rt.NumField() {
		want = append(want, strings.Split(rt.Field(i).Tag.Get("json"), ",")[0])
	}
	for _, f := range want {
		if !strings.Contains(","+strings.Join(selected, ",")+",", ","+f+",") {
			t.Errorf("script does not select %s, which the parser reads", f)
		}
	}
	doc, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "queue-format.md"))
	if err != nil {
		t.Fatalf("format documentation: %v", err)
	}
	for _, p := range CollectorProperties {
		if !strings.Contains(string(doc), "`"+p+"`") {
			t.Errorf("docs/queue-format.md does not document %s", p)
		}
	}
	if CollectorScript() != powershell.Script(collectorBody) {
		t.Fatal("CollectorScript is not the prelude and collectorBody")
	}
	pstest.CheckCollector(t, collectorBody,
		"format = 'mxprobe-queue/1'", "queues = $queues", "ConvertTo-Json -InputObject $out -Depth 4", "MxUseExchange 'Get-Queue'", "exit 2")
}

// sampleEnvelope is what the script writes on Windows PowerShell 5.1 in a
// local EMS session: enums as ints, dates as \/Date()\/, every selected
// property present.
const sampleEnvelope = `{"format":"mxprobe-queue/1","server":"EDGE01","collected":"2019-05-02T06:35:00.1234567Z","queues":[` +
	`{"Identity":"EDGE01\\3","NextHopDomain":"tenant.mail.onmicrosoft.com","DeliveryType":13,"Status":3,"MessageCount":17,` +
	`"LastError":"[{LED=451 4.4.395 Target host responded with error. -\u003e 421 4.4.1 Connection timed out};{MSG=};{FQDN=tenant-mail-onmicrosoft-com.mail.protection.outlook.com};{IP=};{LRT=5/2/2019 6:32:14 AM}]",` +
	`"LastRetryTime":"\/Date(1556778734000)\/","NextRetryTime":"\/Date(1556779334000)\/","NextHopConnector":"9a1e0a1c-5f1e-4f3b-8e3f-8c2f7d0e4b11","TlsPolicy":1},` +
	`{"Identity":"EDGE01\\Submission","NextHopDomain":"Submission","DeliveryType":18,"Status":2,"MessageCount":0,"LastError":null,` +
	`"LastRetryTime":null,"NextRetryTime":null,"NextHopConnector":"00000000-0000-0000-0000-000000000000","TlsPolicy":null}]}`

func wrap(banner, json, trailer string) string {
	b64 := base64.StdEncoding.EncodeToString([]byte(json))
	// PowerShell writes one line; wrap it anyway to prove whitespace is ignored.
	var lines []string
	for len(b64) > 76 {
		lines = append(lines, b64[:76])
		b64 = b64[76:]
	}
	lines = append(lines, b64)
	return banner + powershell.PayloadBegin + "\r\n" + strings.Join(lines, "\r\n") + "\r\n" + powershell.PayloadEnd + "\r\n" + trailer
}

const banner = "WARNING: The names of some imported commands from the module 'Microsoft.Exchange.Management.PowerShell.SnapIn' include unapproved verbs.\r\n" +
	"         Welcome to the Exchange Management Shell!\r\n\r\n"

// The collector's payload, extracted as Collect does, parses in full.
func TestCollectedEnvelopeParses(t *testing.T) {
	raw, err := powershell.ExtractPayload([]byte(wrap(banner, sampleEnvelope, "WARNING: trailing noise\r\n")), MaxInputBytes)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := ParseBytes(raw)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Format != "mxprobe-queue/1" || snap.Server != "EDGE01" || snap.Collected.IsZero() || len(snap.Queues) != 2 || snap.Skipped != 0 {
		t.Fatalf("snapshot = %+v", snap)
	}
	q := snap.Queues[0]
	// Every selected property reached the parser.
	if q.Identity != `EDGE01\3` || q.NextHopDomain != "tenant.mail.onmicrosoft.com" || q.DeliveryType != "13" ||
		q.Status != StatusRetry || q.MessageCount != 17 || !strings.Contains(q.LastError, "4.4.395") ||
		!q.LastRetryTime.Equal(time.UnixMilli(1556778734000)) || !q.NextRetryTime.Equal(time.UnixMilli(1556779334000)) ||
		q.NextHopConnector != "9a1e0a1c-5f1e-4f3b-8e3f-8c2f7d0e4b11" || q.TlsPolicy != "1" {
		t.Errorf("queue = %+v", q)
	}
	if !q.Classify().TLS && !q.Classify().Connection {
		t.Errorf("seed LastError not classified: %+v", q.Classify())
	}

	// No queues at all is still a valid envelope.
	raw, err = powershell.ExtractPayload([]byte(wrap("", `{"format":"mxprobe-queue/1","server":"EDGE01","queues":[]}`, "")), MaxInputBytes)
	if err != nil {
		t.Fatal(err)
	}
	if snap, err := ParseBytes(raw); err != nil || len(snap.Queues) != 0 {
		t.Errorf("empty envelope: %+v, %v", snap, err)
	}

	// A payload that is not Get-Queue JSON passes extraction and fails parsing.
	raw, err = powershell.ExtractPayload([]byte(wrap("", `"hello"`, "")), MaxInputBytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseBytes(raw); !errors.Is(err, ErrNotJSON) {
		t.Errorf("string payload: err = %v, want ErrNotJSON", err)
	}
}
