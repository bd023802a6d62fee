package certread_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxprobe/mxprobe/internal/agent/certread"
	"github.com/mxprobe/mxprobe/internal/agent/clixml/clixmltest"
	"github.com/mxprobe/mxprobe/internal/certstore"
	"github.com/mxprobe/mxprobe/internal/lab"
	"github.com/mxprobe/mxprobe/internal/tempdir"
)

func readSnap(t *testing.T, path string) certstore.Contents {
	t.Helper()
	st, err := certread.Open("snapshot:"+path, certstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := st.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// What an export says about keys decides what is claimed: HasPrivateKey
// when exported, Get-ExchangeCertificate membership when both lists are in
// one file, nothing (KeyUnknown, no keyless claim) otherwise.
func TestCLIXMLStoreKeyEvidence(t *testing.T) {
	ca, err := lab.NewCA("clixml CA")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := ca.Issue(lab.IssueOptions{CommonName: "mail.contoso.com"})
	b, _ := ca.Issue(lab.IssueOptions{CommonName: "mail.contoso.com"})
	dir := tempdir.New(t)
	write := func(name string, data []byte) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	my := []*clixmltest.Node{clixmltest.StoreCertificate(a.Cert, a.Thumbprint()), clixmltest.StoreCertificate(b.Cert, b.Thumbprint())}

	// Only Cert:\LocalMachine\My: nothing known about keys.
	inv := readSnap(t, write("my.xml", clixmltest.UTF16LE(clixmltest.Document(my...))))
	if len(inv.Certificates) != 2 || inv.Examined != 2 {
		t.Fatalf("%+v", inv)
	}
	for _, c := range inv.Certificates {
		if !c.HasPrivateKey || c.Key != certstore.KeyUnknown || !strings.Contains(c.KeyDetail, "does not record") {
			t.Errorf("%s: %v %v %q", c.Thumbprint, c.HasPrivateKey, c.Key, c.KeyDetail)
		}
	}

	// Both lists in one file: b is not listed by Get-ExchangeCertificate.
	both := append(my, clixmltest.ExchangeCertificate(a.Cert, a.Thumbprint(), "EDGE01"))
	inv = readSnap(t, write("my.xml", clixmltest.UTF8BOM(clixmltest.Document(both...))))
	key := map[string]certstore.KeyStatus{}
	for _, c := range inv.Certificates {
		key[c.Thumbprint] = c.Key
	}
	if len(inv.Certificates) != 2 || key[a.Thumbprint()] != certstore.KeyUnknown || key[b.Thumbprint()] != certstore.KeyAbsent {
		t.Fatalf("keys %v", key)
	}

	// Select-Object * exports carry HasPrivateKey.
	withProp := clixmltest.Obj("", []string{"Selected.System.Security.Cryptography.X509Certificates.X509Certificate2", "System.Management.Automation.PSCustomObject", "System.Object"}, "",
		[]*clixmltest.Node{clixmltest.BA("RawData", b.Cert.Raw), clixmltest.B("HasPrivateKey", false), clixmltest.S("Thumbprint", b.Thumbprint())})
	inv = readSnap(t, write("my.xml", []byte(clixmltest.Document(withProp))))
	if len(inv.Certificates) != 1 || inv.Certificates[0].HasPrivateKey || inv.Certificates[0].Key != certstore.KeyAbsent {
		t.Fatalf("%+v", inv.Certificates)
	}

	// An object whose Thumbprint disagrees with its RawData is a problem.
	lying := clixmltest.Obj("", []string{"System.Management.Automation.PSCustomObject"}, "", []*clixmltest.Node{clixmltest.BA("RawData", b.Cert.Raw), clixmltest.S("Thumbprint", a.Thumbprint())})
	inv = readSnap(t, write("my.xml", []byte(clixmltest.Document(lying))))
	if len(inv.Certificates) != 0 || len(inv.Problems) != 1 {
		t.Fatalf("%+v", inv)
	}
}
