//go:build windows

package certread

import (
	"errors"
	"reflect"
	"testing"
	"unsafe"

	"golang.org/x/sys/windows"
)

// referenceDACL decodes a DACL with the Win32 API (advapi32 through
// x/sys/windows), the way the agent did before winblob.go.
func referenceDACL(t *testing.T, sd *windows.SECURITY_DESCRIPTOR) KeyACL {
	t.Helper()
	dacl, _, err := sd.DACL()
	if errors.Is(err, windows.ERROR_OBJECT_NOT_FOUND) || (err == nil && dacl == nil) {
		return KeyACL{Null: true}
	}
	if err != nil {
		t.Fatal(err)
	}
	acl := KeyACL{ACEs: make([]ACE, 0, dacl.AceCount)}
	for i := uint32(0); i < uint32(dacl.AceCount); i++ {
		var ace *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(dacl, i, &ace); err != nil {
			t.Fatal(err)
		}
		a := ACE{Type: ace.Header.AceType, Flags: ace.Header.AceFlags, Mask: uint32(ace.Mask)}
		if a.Type == AceTypeAccessAllowed || a.Type == AceTypeAccessDenied {
			a.SID = (*windows.SID)(unsafe.Pointer(&ace.SidStart)).String()
		}
		acl.ACEs = append(acl.ACEs, a)
	}
	return acl
}

// The byte decoder agrees with Windows' own on descriptors Windows built.
func TestSecurityDescriptorBlobMatchesWin32(t *testing.T) {
	for _, sddl := range []string{
		"D:(A;;GA;;;SY)(A;;GR;;;NS)",
		"D:(D;;GR;;;NS)(A;;GA;;;BA)(A;OICI;FR;;;S-1-5-80-1234-5678)",
		"D:(A;ID;0x1;;;WD)(A;;GA;;;AU)(A;IO;GR;;;BU)",
		"D:",
		"D:NO_ACCESS_CONTROL",
		"O:BAG:SY",
	} {
		sd, err := windows.SecurityDescriptorFromString(sddl)
		if err != nil {
			t.Fatalf("%s: %v", sddl, err)
		}
		buf := unsafe.Slice((*byte)(unsafe.Pointer(sd)), sd.Length())
		got, err := parseSecurityDescriptorBlob(buf)
		if err != nil {
			t.Fatalf("%s: %v", sddl, err)
		}
		if want := referenceDACL(t, sd); !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", sddl, got, want)
		}
	}
}
