//go:build windows

package winsvc

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/sys/windows"
)

// An SCM that does not know an optional setting (Wine 8 answers
// ERROR_INVALID_LEVEL to ChangeServiceConfig2 levels 3, 4 and 5) gets a
// warning and install goes on; any other error still stops it.
func TestOptionalSettingDegradesOnInvalidLevel(t *testing.T) {
	var out bytes.Buffer
	if err := optional(&out, "delayed automatic start (ChangeServiceConfig2 level 3)", fmt.Errorf("set: %w", windows.ERROR_INVALID_LEVEL)); err != nil {
		t.Fatalf("invalid level stopped install: %v", err)
	}
	if !strings.Contains(out.String(), "warning:") || !strings.Contains(out.String(), "level 3") {
		t.Errorf("no warning: %q", out.String())
	}
	out.Reset()
	if err := optional(&out, "service SID", windows.ERROR_ACCESS_DENIED); !errors.Is(err, windows.ERROR_ACCESS_DENIED) {
		t.Errorf("access denied: %v", err)
	}
	if err := optional(&out, "x", nil); err != nil || out.Len() != 0 {
		t.Errorf("nil: %v %q", err, out.String())
	}
}
