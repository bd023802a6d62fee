//go:build !windows

package certread

import (
	"errors"
	"testing"

	"github.com/mxprobe/mxprobe/internal/certstore"
)

func TestOpenWindowsSignerUnsupported(t *testing.T) {
	loc, err := certstore.ParseWindowsLocation(`LocalMachine\My`)
	if err != nil {
		t.Fatal(err)
	}
	s, err := OpenWindowsSigner(loc, "00112233445566778899AABBCCDDEEFF00112233")
	if s != nil || !errors.Is(err, ErrUnsupported) {
		t.Fatalf("OpenWindowsSigner = %v, %v", s, err)
	}
}
