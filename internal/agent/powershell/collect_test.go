package powershell

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

const banner = "WARNING: The names of some imported commands from the module 'Microsoft.Exchange.Management.PowerShell.SnapIn' include unapproved verbs.\r\n" +
	"         Welcome to the Exchange Management Shell!\r\n\r\n"

// emitted is what MxEmit prints for json, after banner. The base64 is
// wrapped to prove whitespace inside the payload is ignored.
func emitted(banner, json string) string {
	b64 := base64.StdEncoding.EncodeToString([]byte(json))
	var lines []string
	for len(b64) > 76 {
		lines = append(lines, b64[:76])
		b64 = b64[76:]
	}
	lines = append(lines, b64)
	return banner + PayloadBegin + "\r\n" + strings.Join(lines, "\r\n") + "\r\n" + PayloadEnd + "\r\n"
}

func TestExtractPayload(t *testing.T) {
	raw, err := ExtractPayload([]byte(emitted(banner, `{"a":1}`)+"WARNING: trailing noise\r\n"), 1<<20)
	if err != nil || string(raw) != `{"a":1}` {
		t.Fatalf("payload %q, %v", raw, err)
	}
	big := `"` + strings.Repeat("x", 2000) + `"`
	for _, tt := range []struct{ out, frag string }{
		{emitted(banner, `{"CollectorError":"The term 'Get-Queue' is not recognized as the name of a cmdlet"}`), "Get-Queue' is not recognized"},
		{emitted("", `{"CollectorError":""}`), "unknown error"},
		{"WARNING: no markers at all\r\n", "no payload"},
		{"", "no payload"},
		{banner + PayloadBegin + "\r\nAAAA", "truncated"},
		{PayloadBegin + "\n!!!\n" + PayloadEnd, "base64"},
		{emitted("", big), "exceeds 1000 bytes"},
	} {
		_, err := ExtractPayload([]byte(tt.out), 1000)
		if !errors.Is(err, ErrCollectorFailed) || !strings.Contains(err.Error(), tt.frag) {
			t.Errorf("%.60q: err = %v, want ErrCollectorFailed containing %q", tt.out, err, tt.frag)
		}
	}
}

func TestOptionsDefaults(t *testing.T) {
	o := Options{}.WithDefaults()
	if o.PowerShell != DefaultPowerShell || o.Timeout != DefaultTimeout || o.MaxOutputBytes != DefaultMaxOutputBytes {
		t.Errorf("defaults = %+v", o)
	}
	o = Options{PowerShell: "pwsh", Timeout: time.Second, MaxOutputBytes: 10}.WithDefaults()
	if o.PowerShell != "pwsh" || o.Timeout != time.Second || o.MaxOutputBytes != 10 {
		t.Errorf("explicit options overridden: %+v", o)
	}
}

// The prelude every collector runs after: the marker protocol and the
// snap-in loading, in plain ASCII with balanced brackets.
func TestPrelude(t *testing.T) {
	s := Script("MxEmit '{}'\n")
	for _, frag := range []string{"function MxEmit", "function MxFail", "function MxUseExchange", "CollectorError", "exit 2",
		"'" + PayloadBegin + "'", "'" + PayloadEnd + "'", "Add-PSSnapin", "Microsoft.Exchange.Management.PowerShell.SnapIn",
		"Microsoft.Exchange.Management.PowerShell.E2010", "$ErrorActionPreference = 'Stop'"} {
		if !strings.Contains(s, frag) {
			t.Errorf("prelude lacks %q", frag)
		}
	}
	if !strings.HasSuffix(s, "MxEmit '{}'\n") {
		t.Error("body not appended")
	}
	for _, pair := range [][2]string{{"{", "}"}, {"(", ")"}, {"[", "]"}} {
		if strings.Count(prelude, pair[0]) != strings.Count(prelude, pair[1]) {
			t.Errorf("unbalanced %s%s in prelude", pair[0], pair[1])
		}
	}
	for i, r := range s {
		if r > 0x7e || (r < 0x20 && r != '\n') {
			t.Fatalf("non-ASCII or control character %U at %d", r, i)
		}
	}
}

// collectHelper runs the test binary as the collector in the given mode.
func collectHelper(t *testing.T, ctx context.Context, mode string, opts Options) ([]byte, error) {
	t.Helper()
	t.Setenv("MXPS_MODE", mode)
	exe, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	return CollectWith(ctx, opts, exe, []string{"-test.run=^$"})
}

func TestCollectWith(t *testing.T) {
	raw, err := collectHelper(t, context.Background(), "ok", Options{})
	if err != nil || string(raw) != `{"ok":true}` {
		t.Fatalf("ok: %q, %v", raw, err)
	}
	for _, tt := range []struct {
		mode  string
		opts  Options
		want  []error
		frags []string
	}{
		// The script's own message wins over the exit status.
		{"collector-error", Options{}, []error{ErrCollectorFailed}, []string{"snap-in is registered"}},
		{"crash", Options{}, []error{ErrCollectorFailed}, []string{"exit status 1", "stderr: powershell.exe : The term"}},
		{"silent", Options{}, []error{ErrCollectorFailed}, []string{"no payload"}},
		// Oversized output is refused, and the child is stopped rather than drained.
		{"flood", Options{MaxOutputBytes: 64 << 10}, []error{ErrOutputTooLarge}, []string{"65536 bytes"}},
		{"hang", Options{Timeout: 300 * time.Millisecond}, []error{ErrCollectorFailed, ErrTimeout, context.DeadlineExceeded}, []string{"did not finish in time"}},
	} {
		t.Run(tt.mode, func(t *testing.T) {
			raw, err := collectHelper(t, context.Background(), tt.mode, tt.opts)
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
		})
	}
}

func TestCollectWithHonoursContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := collectHelper(t, ctx, "hang", Options{})
	if !errors.Is(err, ErrCollectorFailed) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v", err)
	}
}

func TestCollectUnsupportedOffWindows(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows runs collectors")
	}
	if _, err := Collect(context.Background(), Options{}, "MxEmit '{}'"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("err = %v, want ErrUnsupported", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Collect(ctx, Options{}, ""); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}
