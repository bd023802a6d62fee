package certread

import (
	"encoding/base64"
	"errors"
	"runtime"
	"testing"

	"github.com/mxprobe/mxprobe/internal/certstore"
)

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func TestOpenSchemes(t *testing.T) {
	for _, uri := range []string{"ftp:/x", "nothing", ":x", "PEMDIRX:/tmp"} {
		if _, err := Open(uri, certstore.Options{}); !errors.Is(err, ErrUnknownScheme) {
			t.Errorf("Open(%q) = %v, want ErrUnknownScheme", uri, err)
		}
	}
	for _, uri := range []string{"pemdir:/tmp", "PEMDIR:/tmp", "snapshot:/tmp/x.json"} {
		if _, err := Open(uri, certstore.Options{}); err != nil {
			t.Errorf("Open(%q) = %v", uri, err)
		}
	}
	if _, err := Open(`windows:Nowhere\My`, certstore.Options{}); !errors.Is(err, certstore.ErrBadLocation) {
		t.Errorf("bad location: %v", err)
	}
	_, err := Open(`windows:LocalMachine\My`, certstore.Options{})
	if runtime.GOOS != "windows" && !errors.Is(err, ErrUnsupported) {
		t.Errorf("windows: on %s = %v, want ErrUnsupported", runtime.GOOS, err)
	}
}

func TestParseWindowsLocation(t *testing.T) {
	for in, want := range map[string]string{
		`LocalMachine\My`:          `LocalMachine\My`,
		`localmachine\my`:          `LocalMachine\my`,
		`CurrentUser\My`:           `CurrentUser\My`,
		`Cert:\LocalMachine\My`:    `LocalMachine\My`,
		`LocalMachine/WebHosting`:  `LocalMachine\WebHosting`,
		`LocalMachine`:             `LocalMachine\My`,
		` LocalMachine\Root\ `:     `LocalMachine\Root`,
		`cert:/CurrentUser/Remote`: `CurrentUser\Remote`,
	} {
		got, err := certstore.ParseWindowsLocation(in)
		if err != nil || got.String() != want {
			t.Errorf("ParseWindowsLocation(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"", `Machine\My`, `LocalMachine\My\Sub`} {
		if _, err := certstore.ParseWindowsLocation(in); !errors.Is(err, certstore.ErrBadLocation) {
			t.Errorf("ParseWindowsLocation(%q) err = %v", in, err)
		}
	}
}

func TestKeyStatusText(t *testing.T) {
	for _, k := range []certstore.KeyStatus{certstore.KeyUnknown, certstore.KeyAbsent, certstore.KeyUsable, certstore.KeyUnusable} {
		b, _ := k.MarshalText()
		var back certstore.KeyStatus
		if err := back.UnmarshalText(b); err != nil || back != k {
			t.Errorf("%v -> %s -> %v, %v", k, b, back, err)
		}
	}
	if _, err := certstore.ParseKeyStatus("maybe"); err == nil {
		t.Error("want error")
	}
}
