// Package pstest checks a PowerShell collector script (the shared prelude
// plus a collector's body) the way every collector's tests need to.
package pstest

import (
	"encoding/base64"
	"encoding/binary"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/mxprobe/mxprobe/internal/agent/powershell"
)

// CheckCollector fails t unless the collector script for body holds the
// prelude's protocol (snap-in loading, MxUseExchange, MxFail, the payload
// markers) and every one of fragments, has balanced brackets, is printable
// ASCII (code pages never matter), and round-trips through -EncodedCommand
// within CreateProcess's 32,767-character command line.
func CheckCollector(t testing.TB, body string, fragments ...string) {
	t.Helper()
	script := powershell.Script(body)
	prelude := []string{"Add-PSSnapin", "Microsoft.Exchange.Management.PowerShell.SnapIn", "Microsoft.Exchange.Management.PowerShell.E2010",
		"MxUseExchange", "MxFail", "CollectorError", powershell.PayloadBegin, powershell.PayloadEnd}
	for _, frag := range append(prelude, fragments...) {
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
	for i, r := range script {
		if r > 0x7e || (r < 0x20 && r != '\n') {
			t.Fatalf("non-ASCII or control character %U at %d", r, i)
		}
	}
	args := powershell.CollectorArgs(body)
	raw, err := base64.StdEncoding.DecodeString(args[len(args)-1])
	if err != nil {
		t.Fatal(err)
	}
	u := make([]uint16, len(raw)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(raw[2*i:])
	}
	if string(utf16.Decode(u)) != script {
		t.Error("encoded command does not round-trip to the script")
	}
	total := len(powershell.DefaultPowerShell)
	for _, a := range args {
		total += len(a) + 3
	}
	if total > 32000 {
		t.Errorf("command line is %d characters; the script is too long for -EncodedCommand", total)
	}
}
