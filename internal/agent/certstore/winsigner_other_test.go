//go:build !windows

package certstore

import (
	"errors"
	"testing"
)

func TestOpenWindowsSignerUnsupported(t *testing.T) {
	loc, err := ParseWindowsLocation(`LocalMachine\My`)
	if err != nil {
		t.Fatal(err)
	}
	s, err := OpenWindowsSigner(loc, "00112233445566778899AABBCCDDEEFF00112233")
	if s != nil || !errors.Is(err, ErrUnsupported) {
		t.Fatalf("OpenWindowsSigner = %v, %v", s, err)
	}
}
