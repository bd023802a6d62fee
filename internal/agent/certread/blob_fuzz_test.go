package certread

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/mxprobe/mxprobe/internal/certstore"
	"github.com/mxprobe/mxprobe/internal/certstore/certstoretest"
)

// buildSD encodes a self-relative security descriptor with aces as its
// DACL (nil: no DACL); SIDs are "S-1-<auth>-<sub>...".
func buildSD(tb testing.TB, aces []ACE) []byte {
	tb.Helper()
	hdr := make([]byte, sdHeaderSize)
	hdr[0] = sdRevision
	control := uint16(sdControlSelfRelative)
	if aces == nil {
		binary.LittleEndian.PutUint16(hdr[2:], control)
		return hdr
	}
	control |= sdControlDACL
	binary.LittleEndian.PutUint16(hdr[2:], control)
	binary.LittleEndian.PutUint32(hdr[16:], sdHeaderSize)
	var body []byte
	for _, a := range aces {
		ace := []byte{a.Type, a.Flags, 0, 0}
		ace = binary.LittleEndian.AppendUint32(ace, a.Mask)
		ace = append(ace, sidBytes(tb, a.SID)...)
		binary.LittleEndian.PutUint16(ace[2:], uint16(len(ace)))
		body = append(body, ace...)
	}
	acl := []byte{2, 0, 0, 0, 0, 0, 0, 0}
	binary.LittleEndian.PutUint16(acl[2:], uint16(aclHeaderSize+len(body)))
	binary.LittleEndian.PutUint16(acl[4:], uint16(len(aces)))
	return append(append(hdr, acl...), body...)
}

func sidBytes(tb testing.TB, sid string) []byte {
	tb.Helper()
	parts := strings.Split(strings.TrimPrefix(sid, "S-1-"), "-")
	var auth uint64
	var subs []uint32
	for i, p := range parts {
		var n uint64
		for _, c := range p {
			n = n*10 + uint64(c-'0')
		}
		if i == 0 {
			auth = n
		} else {
			subs = append(subs, uint32(n))
		}
	}
	b := []byte{1, byte(len(subs)), byte(auth >> 40), byte(auth >> 32), byte(auth >> 24), byte(auth >> 16), byte(auth >> 8), byte(auth)}
	for _, s := range subs {
		b = binary.LittleEndian.AppendUint32(b, s)
	}
	return b
}

// buildProvInfo lays out a CRYPT_KEY_PROV_INFO at address base as crypt32
// does: the structure, then the two strings it points to.
func buildProvInfo(base uint64, ptrSize int, container, provider string) []byte {
	fixed := 28
	if ptrSize == 8 {
		fixed = 48
	}
	enc := func(s string) []byte {
		var b []byte
		for _, u := range utf16.Encode([]rune(s)) {
			b = binary.LittleEndian.AppendUint16(b, u)
		}
		return append(b, 0, 0)
	}
	c, p := enc(container), enc(provider)
	buf := make([]byte, fixed, fixed+len(c)+len(p))
	put := func(off int, v uint64) {
		if ptrSize == 8 {
			binary.LittleEndian.PutUint64(buf[off:], v)
		} else {
			binary.LittleEndian.PutUint32(buf[off:], uint32(v))
		}
	}
	put(0, base+uint64(fixed))
	put(ptrSize, base+uint64(fixed+len(c)))
	return append(append(buf, c...), p...)
}

// The DACL decoder never panics or reads outside the blob, allocates no
// more ACEs than the blob can hold, and what it decodes from a descriptor
// built from ACEs is those ACEs.
func FuzzSecurityDescriptorBlob(f *testing.F) {
	f.Add(buildSD(f, []ACE{{Type: AceTypeAccessAllowed, Mask: AccessGenericAll, SID: SIDLocalSystem}, {Type: AceTypeAccessAllowed, Mask: AccessGenericRead, SID: SIDNetworkService}}))
	f.Add(buildSD(f, []ACE{{Type: AceTypeAccessDenied, Flags: aceFlagInheritOnly, Mask: AccessReadData, SID: SIDEveryone}, {Type: AceTypeAccessAllowed, Mask: 0x1f01ff, SID: "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464"}}))
	f.Add(buildSD(f, []ACE{}))
	f.Add(buildSD(f, nil))
	f.Add([]byte{1, 0, 0x04, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}) // NULL DACL
	f.Add([]byte{1, 0, 0x04, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 20, 0, 0, 0, 2, 0, 8, 0, 0xff, 0xff, 0, 0})
	f.Fuzz(func(t *testing.T, buf []byte) {
		acl, err := parseSecurityDescriptorBlob(buf)
		if err != nil {
			return
		}
		if len(acl.ACEs) > len(buf)/aceHeaderSize {
			t.Fatalf("%d ACEs from %d bytes", len(acl.ACEs), len(buf))
		}
		for _, a := range acl.ACEs {
			if (a.Type == AceTypeAccessAllowed || a.Type == AceTypeAccessDenied) && !strings.HasPrefix(a.SID, "S-1-") {
				t.Fatalf("ACE %+v without a SID", a)
			}
		}
		if acl.Null {
			return
		}
		// Allowed/denied ACEs with decimal authorities re-encode to the
		// same decoding.
		for _, a := range acl.ACEs {
			if (a.Type != AceTypeAccessAllowed && a.Type != AceTypeAccessDenied) || strings.Contains(a.SID, "0x") {
				return
			}
		}
		again, err := parseSecurityDescriptorBlob(buildSD(t, acl.ACEs))
		if err != nil || len(again.ACEs) != len(acl.ACEs) {
			t.Fatalf("re-encoded %+v: %+v, %v", acl, again, err)
		}
		for i := range again.ACEs {
			if again.ACEs[i] != acl.ACEs[i] {
				t.Fatalf("ACE %d: %+v re-decodes as %+v", i, acl.ACEs[i], again.ACEs[i])
			}
		}
	})
}

// The CRYPT_KEY_PROV_INFO decoder never follows a pointer outside the
// blob, and reads back the names crypt32 laid out.
func FuzzKeyProvInfoBlob(f *testing.F) {
	const base = 0x7ff6_1234_0000
	f.Add(buildProvInfo(base, 8, "te-Exchange-7f3a", "Microsoft Software Key Storage Provider"), uint64(base), true)
	f.Add(buildProvInfo(0x10000, 4, "{4F3C}", "Microsoft Enhanced RSA and AES Cryptographic Provider"), uint64(0x10000), false)
	f.Add(buildProvInfo(base, 8, "", "é ключ 🔑"), uint64(base), true)
	f.Add(make([]byte, 48), uint64(0), true)
	f.Add(buildProvInfo(base, 8, "x", "y")[:50], uint64(base), true)
	f.Fuzz(func(t *testing.T, buf []byte, base uint64, wide bool) {
		ptrSize := 4
		if wide {
			ptrSize = 8
		}
		container, provider, err := parseKeyProvInfoBlob(buf, base, ptrSize)
		if err != nil {
			return
		}
		if 2*len(container) > 3*len(buf) || 2*len(provider) > 3*len(buf) {
			t.Fatalf("names longer than the blob: %d, %d from %d bytes", len(container), len(provider), len(buf))
		}
		if strings.ContainsRune(container, 0) || strings.ContainsRune(provider, 0) {
			t.Fatal("name with NUL")
		}
		// What decodes re-encodes to the same names.
		b := buildProvInfo(base&^0xffff, ptrSize, container, provider)
		c2, p2, err := parseKeyProvInfoBlob(b, base&^0xffff, ptrSize)
		if err != nil || c2 != container || p2 != provider {
			t.Fatalf("(%q, %q) re-encoded: (%q, %q), %v", container, provider, c2, p2, err)
		}
	})
}

// ReadSnapshot never panics on any document, and a snapshot it accepts
// writes and reads back to the same certificates and problems.
func FuzzReadSnapshot(f *testing.F) {
	ca := certstoretest.NewCA(f)
	leaf := ca.Issue(f, "mail.contoso.com", &certstoretest.NewECKey(f).PublicKey)
	var doc bytes.Buffer
	inv := certstore.Contents{Location: `windows:LocalMachine\My`, ReadAt: time.Date(2019, 5, 2, 6, 32, 0, 0, time.UTC), Certificates: []certstore.Certificate{}}
	if err := WriteSnapshot(&doc, inv); err != nil {
		f.Fatal(err)
	}
	f.Add(doc.Bytes())
	f.Add([]byte(`{"format":"mxprobe.certstore.snapshot","version":1,"location":"x","certificates":[{"der":"` + b64(leaf.Raw) + `","key_status":"sideways","transport_can_read_key":true,"services":["SMTP"]},{"der":"` + b64(ca.Cert.Raw) + `"},{"der":"` + b64(ca.Cert.Raw) + `"},{"der":"!!!"}],"problems":[{"source":"s","error":"e"}]}`))
	f.Add([]byte(`{"format":"mxprobe.certstore.snapshot","version":2}`))
	f.Add([]byte(`{"format":"mxprobe.certstore.snapshot","version":1,"certificates":null,"problems":[{}]}`))
	f.Add([]byte("{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ReadSnapshot(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, c := range got.Certificates {
			if c.Thumbprint == "" {
				t.Fatalf("certificate without a thumbprint: %+v", c)
			}
		}
		var out bytes.Buffer
		if err := WriteSnapshot(&out, got); err != nil {
			t.Fatalf("accepted snapshot does not write back: %v", err)
		}
		again, err := ReadSnapshot(&out)
		if err != nil {
			t.Fatalf("written snapshot does not read back: %v\n%s", err, out.Bytes())
		}
		if len(again.Certificates) != len(got.Certificates) || len(again.Problems) != len(got.Problems) {
			t.Fatalf("round trip: %d certificates %d problems, then %d and %d", len(got.Certificates), len(got.Problems), len(again.Certificates), len(again.Problems))
		}
		for i := range got.Certificates {
			if again.Certificates[i].Thumbprint != got.Certificates[i].Thumbprint || again.Certificates[i].Key != got.Certificates[i].Key {
				t.Fatalf("certificate %d changed in the round trip", i)
			}
		}
	})
}
