package certread

import (
	"strings"
	"testing"

	"github.com/mxprobe/mxprobe/internal/certstore"
	"github.com/mxprobe/mxprobe/internal/certstore/certstoretest"
	"github.com/mxprobe/mxprobe/internal/thumbprint"
)

func TestEvaluateKeyRead(t *testing.T) {
	ns := NetworkServiceTokenSIDs()
	allow := func(sid string, mask uint32) ACE { return ACE{Type: AceTypeAccessAllowed, Mask: mask, SID: sid} }
	deny := func(sid string, mask uint32) ACE { return ACE{Type: AceTypeAccessDenied, Mask: mask, SID: sid} }
	for _, tc := range []struct {
		name string
		acl  KeyACL
		want ReadDecision
	}{
		{"null DACL", KeyACL{Null: true}, ReadAllowed},
		{"empty DACL", KeyACL{}, ReadDenied},
		{"only SYSTEM and Administrators (Exchange never granted)", KeyACL{ACEs: []ACE{
			allow(SIDLocalSystem, AccessGenericAll), allow(SIDAdministrators, AccessGenericAll)}}, ReadDenied},
		{"NETWORK SERVICE generic read", KeyACL{ACEs: []ACE{
			allow(SIDLocalSystem, AccessGenericAll), allow(SIDNetworkService, AccessGenericRead)}}, ReadAllowed},
		{"NETWORK SERVICE FILE_GENERIC_READ", KeyACL{ACEs: []ACE{allow(SIDNetworkService, 0x00120089)}}, ReadAllowed},
		{"lower-case SID", KeyACL{ACEs: []ACE{allow("s-1-5-20", AccessGenericRead)}}, ReadAllowed},
		{"Authenticated Users full control", KeyACL{ACEs: []ACE{allow(SIDAuthenticatedUsers, AccessGenericAll)}}, ReadAllowed},
		{"Everyone read", KeyACL{ACEs: []ACE{allow(SIDEveryone, 0x00120089)}}, ReadAllowed},
		{"allow without read bits", KeyACL{ACEs: []ACE{allow(SIDNetworkService, 0x00040000 /* WRITE_DAC */)}}, ReadDenied},
		{"deny Everyone before allow", KeyACL{ACEs: []ACE{
			deny(SIDEveryone, AccessGenericRead), allow(SIDNetworkService, AccessGenericRead)}}, ReadDenied},
		{"deny for another account is irrelevant", KeyACL{ACEs: []ACE{
			deny("S-1-5-21-1-2-3-1001", AccessGenericAll), allow(SIDNetworkService, AccessGenericRead)}}, ReadAllowed},
		{"inherit-only allow does not apply", KeyACL{ACEs: []ACE{
			{Type: AceTypeAccessAllowed, Flags: aceFlagInheritOnly, Mask: AccessGenericRead, SID: SIDNetworkService}}}, ReadDenied},
		{"object ACE ignored", KeyACL{ACEs: []ACE{{Type: 5, Mask: AccessGenericRead, SID: SIDNetworkService}}}, ReadDenied},
		{"per-service SID only", KeyACL{ACEs: []ACE{
			allow("S-1-5-80-1234-5678-1-2-3", AccessGenericRead)}}, ReadUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, reason := EvaluateKeyRead(tc.acl, ns)
			if got != tc.want {
				t.Errorf("got %v (%s), want %v", got, reason, tc.want)
			}
			if reason == "" {
				t.Error("empty reason")
			}
		})
	}
}

func TestReadDecisionBool(t *testing.T) {
	if b := ReadAllowed.Bool(); b == nil || !*b {
		t.Error("allowed")
	}
	if b := ReadDenied.Bool(); b == nil || *b {
		t.Error("denied")
	}
	if ReadUnknown.Bool() != nil {
		t.Error("unknown")
	}
	s := NetworkServiceTokenSIDs()
	s[0] = "mutated"
	if NetworkServiceTokenSIDs()[0] != SIDNetworkService {
		t.Error("NetworkServiceTokenSIDs shares state")
	}
}

func TestWindowsEntryCertificate(t *testing.T) {
	ca := certstoretest.NewCA(t)
	c := ca.Issue(t, "mail.contoso.com", &certstoretest.NewECKey(t).PublicKey)
	loc := `windows:LocalMachine\My`

	t.Run("no key property", func(t *testing.T) {
		got, p := windowsEntry{der: c.Raw, friendlyName: "old"}.certificate(loc)
		if p != nil || got.HasPrivateKey || got.Key != certstore.KeyAbsent || got.FriendlyName != "old" || got.Thumbprint != thumbprint.OfDER(c.Raw) {
			t.Errorf("%+v %v", got, p)
		}
	})
	t.Run("key container missing", func(t *testing.T) {
		got, _ := windowsEntry{der: c.Raw, hasKeyProvInfo: true, provider: "Microsoft Software Key Storage Provider", container: "te-abc",
			acquireCode: 0x80090016, acquireMsg: "Keyset does not exist"}.certificate(loc)
		if !got.HasPrivateKey || got.Key != certstore.KeyUnusable || !strings.Contains(got.KeyDetail, "NTE_BAD_KEYSET (0x80090016)") ||
			got.KeySource != `Microsoft Software Key Storage Provider\te-abc` {
			t.Errorf("%+v", got)
		}
	})
	t.Run("usable but NETWORK SERVICE cannot read", func(t *testing.T) {
		got, _ := windowsEntry{der: c.Raw, hasKeyProvInfo: true, cng: true,
			acl: &KeyACL{ACEs: []ACE{{Type: AceTypeAccessAllowed, Mask: AccessGenericAll, SID: SIDAdministrators}}}}.certificate(loc)
		if got.Key != certstore.KeyUsable || got.TransportCanReadKey == nil || *got.TransportCanReadKey || !strings.Contains(got.KeyDetail, "NETWORK SERVICE") {
			t.Errorf("%+v", got)
		}
	})
	t.Run("usable and readable", func(t *testing.T) {
		got, _ := windowsEntry{der: c.Raw, hasKeyProvInfo: true, cng: true,
			acl: &KeyACL{ACEs: []ACE{{Type: AceTypeAccessAllowed, Mask: AccessGenericRead, SID: SIDNetworkService}}}}.certificate(loc)
		if got.Key != certstore.KeyUsable || got.TransportCanReadKey == nil || !*got.TransportCanReadKey || got.KeyDetail != "" {
			t.Errorf("%+v", got)
		}
	})
	t.Run("legacy CSP ACL unreadable", func(t *testing.T) {
		got, _ := windowsEntry{der: c.Raw, hasKeyProvInfo: true, aclErr: "CryptGetProvParam failed"}.certificate(loc)
		if got.Key != certstore.KeyUsable || got.TransportCanReadKey != nil || !strings.Contains(got.KeyDetail, "CryptoAPI") {
			t.Errorf("%+v", got)
		}
	})
	t.Run("bad DER", func(t *testing.T) {
		_, p := windowsEntry{der: []byte{0x30, 0x03, 1, 2, 3}}.certificate(loc)
		if p == nil {
			t.Error("want problem")
		}
	})
}
