package certread

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/certstore"
	"github.com/mxprobe/mxprobe/internal/certstore/certstoretest"
	"github.com/mxprobe/mxprobe/internal/tempdir"
	"github.com/mxprobe/mxprobe/internal/thumbprint"
)

func TestSnapshotRoundTrip(t *testing.T) {
	dir := tempdir.New(t)
	ca := certstoretest.NewCA(t)
	k := certstoretest.NewECKey(t)
	good := ca.Issue(t, "mail.contoso.com", &k.PublicKey)
	keyless := ca.Issue(t, "mail.contoso.com", &certstoretest.NewECKey(t).PublicKey)
	certstoretest.WriteFile(t, dir, "a.pem", certstoretest.CertPEM(good))
	certstoretest.WriteFile(t, dir, "b.pem", certstoretest.CertPEM(keyless))
	certstoretest.WriteFile(t, dir, "k.key", certstoretest.PKCS8PEM(t, k))
	certstoretest.WriteFile(t, dir, "bad.crt", []byte("garbage"))
	captured := time.Date(2019, 5, 2, 6, 32, 0, 0, time.UTC)
	inv := readDir(t, dir, certstore.Options{Now: func() time.Time { return captured }})

	// Windows-only fields survive too.
	yes := true
	inv.Certificates[0].TransportCanReadKey = &yes
	inv.Certificates[0].FriendlyName = "Exchange 2019 SMTP"
	inv.Certificates[0].Services = []string{"SMTP", "IIS"}

	var buf bytes.Buffer
	if err := WriteSnapshot(&buf, inv); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "PRIVATE KEY") {
		t.Fatal("snapshot contains key material")
	}
	path := certstoretest.WriteFile(t, tempdir.New(t), "store.json", buf.Bytes())
	s, err := Open("snapshot:"+path, certstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got.Location != inv.Location || !got.ReadAt.Equal(captured) || got.Snapshot != path {
		t.Errorf("header: location=%q readAt=%v snapshot=%q", got.Location, got.ReadAt, got.Snapshot)
	}
	if len(got.Certificates) != len(inv.Certificates) {
		t.Fatalf("certs: %d vs %d", len(got.Certificates), len(inv.Certificates))
	}
	for i, want := range inv.Certificates {
		g := got.Certificates[i]
		if g.Thumbprint != want.Thumbprint || g.HasPrivateKey != want.HasPrivateKey || g.Key != want.Key ||
			g.KeyDetail != want.KeyDetail || g.KeySource != want.KeySource || g.Source != want.Source ||
			g.FriendlyName != want.FriendlyName || strings.Join(g.Services, ",") != strings.Join(want.Services, ",") ||
			!bytes.Equal(g.Cert.Raw, want.Cert.Raw) {
			t.Errorf("cert %d differs:\n got %+v\nwant %+v", i, g, want)
		}
		if (g.TransportCanReadKey == nil) != (want.TransportCanReadKey == nil) ||
			(g.TransportCanReadKey != nil && *g.TransportCanReadKey != *want.TransportCanReadKey) {
			t.Errorf("cert %d TransportCanReadKey differs", i)
		}
	}
	if len(got.Problems) != 1 || !strings.Contains(got.Problems[0].Err.Error(), "unrecognised") {
		t.Errorf("problems: %v", got.Problems)
	}
	var rec *RecordedError
	if !errors.As(got.Problems[0].Err, &rec) {
		t.Errorf("recorded problem has type %T", got.Problems[0].Err)
	}
	if k := findCert(t, got, keyless); k.HasPrivateKey || k.Key != certstore.KeyAbsent {
		t.Errorf("keyless after round trip: %+v", k)
	}
}

func TestSnapshotTamperedThumbprint(t *testing.T) {
	ca := certstoretest.NewCA(t)
	a := ca.Issue(t, "a.contoso.com", &certstoretest.NewECKey(t).PublicKey)
	b := ca.Issue(t, "b.contoso.com", &certstoretest.NewECKey(t).PublicKey)
	inv := certstore.Contents{Location: `windows:LocalMachine\My`, ReadAt: time.Now(), Certificates: []certstore.Certificate{
		{Thumbprint: thumbprint.OfDER(a.Raw), Cert: a, Key: certstore.KeyAbsent},
		{Thumbprint: thumbprint.OfDER(b.Raw), Cert: b, HasPrivateKey: true, Key: certstore.KeyUsable},
	}}
	var buf bytes.Buffer
	if err := WriteSnapshot(&buf, inv); err != nil {
		t.Fatal(err)
	}
	// Swap a's thumbprint for b's: someone "fixed" the wrong entry.
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	certs := doc["certificates"].([]any)
	certs[0].(map[string]any)["thumbprint"] = thumbprint.OfDER(b.Raw)
	// Lower case and spaced thumbprints are accepted when they match.
	certs[1].(map[string]any)["thumbprint"] = strings.ToLower(thumbprint.OfDER(b.Raw)[:20]) + " " + thumbprint.OfDER(b.Raw)[20:]
	tampered, _ := json.Marshal(doc)

	got, err := readSnapshot(bytes.NewReader(tampered), certstore.DefaultMaxSnapshotBytes, "t.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Certificates) != 1 || got.Certificates[0].Thumbprint != thumbprint.OfDER(b.Raw) {
		t.Fatalf("certificates: %+v", got.Certificates)
	}
	if len(got.Problems) != 1 || !errors.Is(got.Problems[0].Err, ErrThumbprintMismatch) || got.Problems[0].Source != "t.json: certificates[0]" {
		t.Errorf("problems: %v", got.Problems)
	}
}

func TestSnapshotRejects(t *testing.T) {
	ca := certstoretest.NewCA(t)
	for _, tc := range []struct {
		name string
		doc  string
		want error
	}{
		{"not json", "{", ErrBadSnapshot},
		{"other json", `{"hello":1}`, ErrBadSnapshot},
		{"future version", `{"format":"mxprobe.certstore.snapshot","version":2}`, ErrSnapshotVersion},
		{"no version", `{"format":"mxprobe.certstore.snapshot"}`, ErrBadSnapshot},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ReadSnapshot(strings.NewReader(tc.doc)); !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}

	t.Run("bad entries become problems", func(t *testing.T) {
		doc := `{"format":"mxprobe.certstore.snapshot","version":1,"location":"x","certificates":[
			{"der":"!!!"},
			{"der":"AAAA"},
			{"der":"` + b64(ca.Cert.Raw) + `","key_status":"sideways"},
			{"der":"` + b64(ca.Cert.Raw) + `"}]}`
		inv, err := ReadSnapshot(strings.NewReader(doc))
		if err != nil {
			t.Fatal(err)
		}
		if len(inv.Certificates) != 1 || inv.Certificates[0].Key != certstore.KeyUnknown || !strings.Contains(inv.Certificates[0].KeyDetail, "sideways") {
			t.Errorf("certs: %+v", inv.Certificates)
		}
		if len(inv.Problems) != 3 {
			t.Errorf("problems: %v", inv.Problems)
		}
	})

	t.Run("too large", func(t *testing.T) {
		p := filepath.Join(tempdir.New(t), "big.json")
		if err := os.WriteFile(p, bytes.Repeat([]byte(" "), 2048), 0o600); err != nil {
			t.Fatal(err)
		}
		s, _ := Open("snapshot:"+p, certstore.Options{MaxSnapshotBytes: 1024})
		if _, err := s.Read(context.Background()); !errors.Is(err, certstore.ErrFileTooLarge) {
			t.Errorf("err = %v", err)
		}
	})
}

func TestWriteSnapshotNeedsDER(t *testing.T) {
	err := WriteSnapshot(&bytes.Buffer{}, certstore.Contents{Certificates: []certstore.Certificate{{Thumbprint: "AB"}}})
	if err == nil {
		t.Error("want error for certificate without DER")
	}
}
