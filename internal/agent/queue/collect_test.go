package queue

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
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
	script := CollectorScript()
	for _, frag := range []string{
		"Get-Command Get-Queue", "Add-PSSnapin", "Microsoft.Exchange.Management.PowerShell.SnapIn",
		"Microsoft.Exchange.Management.PowerShell.E2010", "format = 'mxprobe-queue/1'", "queues = $queues",
		"ConvertTo-Json -InputObject $out -Depth 4", "CollectorError", "exit 2", collectorBegin, collectorEnd,
	} {
		if !strings.Contains(script, frag) {
			t.Errorf("script lacks %q", frag)
		}
	}
	// Balanced braces and parentheses: a cheap syntax sanity check.
	for _, pair := range [][2]string{{"{", "}"}, {"(", ")"}, {"[", "]"}} {
		if strings.Count(script, pair[0]) != strings.Count(script, pair[1]) {
			t.Errorf("unbalanced %s%s in script", pair[0], pair[1])
		}
	}
	// Only ASCII, so code pages never matter.
	for i, r := range script {
		if r > 0x7e || (r < 0x20 && r != '\n') {
			t.Fatalf("non-ASCII or control character %U at %d", r, i)
		}
	}
}

func TestPowerShellArgs(t *testing.T) {
	args := PowerShellArgs()
	if len(args) != 5 || args[3] != "-EncodedCommand" {
		t.Fatalf("args = %q", args)
	}
	raw, err := base64.StdEncoding.DecodeString(args[4])
	if err != nil {
		t.Fatal(err)
	}
	u := make([]uint16, len(raw)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(raw[2*i:])
	}
	if string(utf16.Decode(u)) != CollectorScript() {
		t.Error("encoded command does not round-trip to the script")
	}
	// CreateProcess limits the command line to 32767 characters.
	total := len(DefaultPowerShell)
	for _, a := range args {
		total += len(a) + 3
	}
	if total > 32000 {
		t.Errorf("command line is %d characters; the script is too long for -EncodedCommand", total)
	}
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
	return banner + collectorBegin + "\r\n" + strings.Join(lines, "\r\n") + "\r\n" + collectorEnd + "\r\n" + trailer
}

const banner = "WARNING: The names of some imported commands from the module 'Microsoft.Exchange.Management.PowerShell.SnapIn' include unapproved verbs.\r\n" +
	"         Welcome to the Exchange Management Shell!\r\n\r\n"

func TestExtractCollectorOutput(t *testing.T) {
	raw, err := ExtractCollectorOutput([]byte(wrap(banner, sampleEnvelope, "WARNING: trailing noise\r\n")))
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
	raw, err = ExtractCollectorOutput([]byte(wrap("", `{"format":"mxprobe-queue/1","server":"EDGE01","queues":[]}`, "")))
	if err != nil {
		t.Fatal(err)
	}
	if snap, err := ParseBytes(raw); err != nil || len(snap.Queues) != 0 {
		t.Errorf("empty envelope: %+v, %v", snap, err)
	}

	tests := []struct {
		out  string
		want error
		frag string
	}{
		{wrap(banner, `{"CollectorError":"The term 'Get-Queue' is not recognized as the name of a cmdlet"}`, ""), ErrCollectorFailed, "Get-Queue' is not recognized"},
		{wrap("", `{"CollectorError":""}`, ""), ErrCollectorFailed, "unknown error"},
		{"WARNING: no markers at all\r\n", ErrCollectorFailed, "no Get-Queue output"},
		{"", ErrCollectorFailed, "no Get-Queue output"},
		{banner + collectorBegin + "\r\nAAAA", ErrCollectorFailed, "truncated"},
		{collectorBegin + "\n!!!\n" + collectorEnd, ErrCollectorFailed, "base64"},
	}
	for _, tt := range tests {
		_, err := ExtractCollectorOutput([]byte(tt.out))
		if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.frag) {
			t.Errorf("%.60q: err = %v, want %v containing %q", tt.out, err, tt.want, tt.frag)
		}
	}
	// A payload that is not Get-Queue JSON passes extraction and fails parsing.
	raw, err = ExtractCollectorOutput([]byte(wrap("", `"hello"`, "")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseBytes(raw); !errors.Is(err, ErrNotJSON) {
		t.Errorf("string payload: err = %v, want ErrNotJSON", err)
	}
}

func TestCollectOptionsDefaults(t *testing.T) {
	o := CollectOptions{}.withDefaults()
	if o.PowerShell != DefaultPowerShell || o.Timeout != DefaultCollectTimeout || o.MaxOutputBytes != DefaultMaxOutputBytes {
		t.Errorf("defaults = %+v", o)
	}
	o = CollectOptions{PowerShell: "pwsh", Timeout: time.Second, MaxOutputBytes: 10}.withDefaults()
	if o.PowerShell != "pwsh" || o.Timeout != time.Second || o.MaxOutputBytes != 10 {
		t.Errorf("explicit options overridden: %+v", o)
	}
}

// helperEnv selects the behaviour of the stand-in collector process.
const helperEnv = "MXPROBE_QUEUE_COLLECTOR_HELPER"

// TestMain lets the test binary stand in for powershell.exe, so that
// runCollector (bounds, timeout, exit status, stderr) is tested on every
// platform.
func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helper(mode))
	}
	os.Exit(m.Run())
}

func helper(mode string) int {
	switch mode {
	case "ok":
		fmt.Print(wrap(banner, sampleEnvelope, ""))
		return 0
	case "collector-error":
		fmt.Print(wrap(banner, `{"CollectorError":"no Exchange Management Shell snap-in is registered on this computer"}`, ""))
		return 2
	case "crash":
		fmt.Fprint(os.Stderr, "powershell.exe : The term 'x' is not recognized\r\n")
		return 1
	case "silent":
		fmt.Print(banner)
		return 0
	case "flood":
		line := []byte(strings.Repeat("WARNING: noise ", 64) + "\r\n")
		for {
			if _, err := os.Stdout.Write(line); err != nil {
				return 3
			}
		}
	case "hang":
		fmt.Print(banner)
		time.Sleep(time.Minute)
		return 0
	}
	return 4
}

func runHelper(t *testing.T, mode string, opts CollectOptions) ([]byte, error) {
	t.Helper()
	t.Setenv(helperEnv, mode)
	exe, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	opts.PowerShell = exe
	opts = opts.withDefaults()
	return runCollector(context.Background(), opts, opts.PowerShell, []string{"-test.run=^$"}, nil)
}

func TestRunCollector(t *testing.T) {
	raw, err := runHelper(t, "ok", CollectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if snap, err := ParseBytes(raw); err != nil || len(snap.Queues) != 2 || snap.Server != "EDGE01" {
		t.Errorf("ok: %+v, %v", snap, err)
	}

	tests := []struct {
		mode  string
		opts  CollectOptions
		want  []error
		frags []string
	}{
		// The script's own message wins over the exit status.
		{"collector-error", CollectOptions{}, []error{ErrCollectorFailed}, []string{"snap-in is registered"}},
		{"crash", CollectOptions{}, []error{ErrCollectorFailed}, []string{"exit status 1", "stderr: powershell.exe : The term"}},
		{"silent", CollectOptions{}, []error{ErrCollectorFailed}, []string{"no Get-Queue output"}},
		// Oversized output is refused, and the child is stopped rather than drained.
		{"flood", CollectOptions{MaxOutputBytes: 64 << 10}, []error{ErrOutputTooLarge}, []string{"65536 bytes"}},
		{"hang", CollectOptions{Timeout: 300 * time.Millisecond}, []error{ErrCollectorFailed, context.DeadlineExceeded}, []string{"did not finish in time"}},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			start := time.Now()
			raw, err := runHelper(t, tt.mode, tt.opts)
			if err == nil {
				t.Fatalf("no error; payload %q", raw)
			}
			for _, w := range tt.want {
				if !errors.Is(err, w) {
					t.Errorf("err = %v, want %v", err, w)
				}
			}
			for _, f := range tt.frags {
				if !strings.Contains(err.Error(), f) {
					t.Errorf("err = %v, want it to contain %q", err, f)
				}
			}
			if d := time.Since(start); d > 30*time.Second {
				t.Errorf("took %s", d)
			}
		})
	}
}

func TestRunCollectorHonoursContext(t *testing.T) {
	t.Setenv(helperEnv, "hang")
	exe, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = runCollector(ctx, CollectOptions{}.withDefaults(), exe, []string{"-test.run=^$"}, nil)
	if !errors.Is(err, ErrCollectorFailed) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v", err)
	}
}
