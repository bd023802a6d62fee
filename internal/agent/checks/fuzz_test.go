package checks

import (
	"testing"

	"github.com/mxprobe/mxprobe/internal/lab"
)

// FuzzParsePrivateKeys: the client-certificate key loader never panics and
// returns keys only with a nil error.
func FuzzParsePrivateKeys(f *testing.F) {
	ca, err := lab.NewCA("fuzz CA")
	if err != nil {
		f.Fatal(err)
	}
	is, err := ca.Issue(lab.IssueOptions{CommonName: "fuzz.example"})
	if err != nil {
		f.Fatal(err)
	}
	key, err := is.KeyPEM()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(key)
	f.Add(append(is.CertPEM(), key...))
	f.Add(key[:len(key)/2])
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n"))
	f.Add([]byte{0x30, 0x82, 0x01})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := parsePrivateKeys(data, []string{"pw"})
		if err != nil && len(keys) != 0 {
			t.Fatal("keys with an error")
		}
		for _, k := range keys {
			if k == nil || k.Public() == nil {
				t.Fatal("nil key")
			}
		}
	})
}
