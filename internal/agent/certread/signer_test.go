package certread

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/certstore"
	"github.com/mxprobe/mxprobe/internal/certstore/certstoretest"
	"github.com/mxprobe/mxprobe/internal/thumbprint"
)

// fakeNCrypt emulates NCryptSignHash on a Go key with NCrypt's own
// conventions (hash named by BCRYPT algorithm id, explicit PSS salt,
// pszAlgId NULL = no DigestInfo, ECDSA as P1363 r||s), so the whole
// StoreSigner path except the syscall runs on Linux.
type fakeNCrypt struct {
	key crypto.Signer

	mu     sync.Mutex
	calls  []SignParams
	closed int
}

func (f *fakeNCrypt) signHash(p SignParams, digest []byte) ([]byte, error) {
	f.mu.Lock()
	f.calls = append(f.calls, p)
	f.mu.Unlock()
	switch k := f.key.(type) {
	case *rsa.PrivateKey:
		var h crypto.Hash
		if p.AlgID != "" {
			var ok bool
			if h, ok = hashFromAlgID(p.AlgID); !ok {
				return nil, fmt.Errorf("fake NCrypt: unknown algorithm %q", p.AlgID)
			}
		}
		switch p.Padding {
		case PaddingPKCS1:
			return rsa.SignPKCS1v15(nil, k, h, digest)
		case PaddingPSS:
			if h == 0 {
				return nil, errors.New("fake NCrypt: PSS without algorithm")
			}
			return rsa.SignPSS(rand.Reader, k, h, digest, &rsa.PSSOptions{SaltLength: p.SaltLen})
		}
		return nil, fmt.Errorf("fake NCrypt: RSA key with padding %v", p.Padding)
	case *ecdsa.PrivateKey:
		if p.Padding != PaddingNone || p.AlgID != "" {
			return nil, fmt.Errorf("fake NCrypt: ECDSA key with padding %v %q", p.Padding, p.AlgID)
		}
		r, s, err := ecdsa.Sign(rand.Reader, k, digest)
		if err != nil {
			return nil, err
		}
		return p1363(r, s, p.CoordLen), nil
	}
	return nil, fmt.Errorf("fake NCrypt: %T", f.key)
}

func (f *fakeNCrypt) close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed++
	return nil
}

func (f *fakeNCrypt) paddings() []SignParams {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]SignParams(nil), f.calls...)
}

func p1363(r, s *big.Int, n int) []byte {
	out := make([]byte, 2*n)
	r.FillBytes(out[:n])
	s.FillBytes(out[n:])
	return out
}

func TestP1363ToASN1VerifiesWithGoECDSA(t *testing.T) {
	for _, curve := range []elliptic.Curve{elliptic.P256(), elliptic.P384(), elliptic.P521()} {
		key, err := ecdsa.GenerateKey(curve, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		n := (curve.Params().BitSize + 7) / 8
		for i := 0; i < 64; i++ {
			digest := sha512.Sum512([]byte(fmt.Sprintf("message %d", i)))
			// Go's own ECDSA, split into r||s as NCrypt returns it.
			der0, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
			if err != nil {
				t.Fatal(err)
			}
			var rs struct{ R, S *big.Int }
			if _, err := asn1.Unmarshal(der0, &rs); err != nil {
				t.Fatal(err)
			}
			raw := p1363(rs.R, rs.S, n)
			der, err := P1363ToASN1(raw, n)
			if err != nil {
				t.Fatalf("%s: %v", curve.Params().Name, err)
			}
			if string(der) != string(der0) {
				t.Fatalf("%s: DER differs from Go's encoding:\n%x\n%x", curve.Params().Name, der, der0)
			}
			if !ecdsa.VerifyASN1(&key.PublicKey, digest[:], der) || !ecdsa.Verify(&key.PublicKey, digest[:], rs.R, rs.S) {
				t.Fatalf("%s: converted signature does not verify", curve.Params().Name)
			}
		}
	}
}

func TestP1363ToASN1Encoding(t *testing.T) {
	// Leading zero bytes are dropped, a high bit gets a 0x00 pad.
	raw := append(append(make([]byte, 31), 0x01), append([]byte{0x80}, make([]byte, 31)...)...)
	der, err := P1363ToASN1(raw, 32)
	if err != nil {
		t.Fatal(err)
	}
	want := append([]byte{0x30, 0x26, 0x02, 0x01, 0x01, 0x02, 0x21, 0x00, 0x80}, make([]byte, 31)...)
	if string(der) != string(want) {
		t.Fatalf("got %x\nwant %x", der, want)
	}
	for _, tc := range []struct {
		raw []byte
		n   int
	}{
		{make([]byte, 63), 32},                      // odd length
		{make([]byte, 64), 48},                      // wrong curve
		{make([]byte, 64), 32},                      // r = s = 0
		{append(make([]byte, 32), raw[32:]...), 32}, // r = 0
		{nil, 0},
	} {
		if _, err := P1363ToASN1(tc.raw, tc.n); err == nil {
			t.Errorf("P1363ToASN1(%d bytes, %d) accepted", len(tc.raw), tc.n)
		}
	}
}

func TestParamsFor(t *testing.T) {
	rsaKey := certstoretest.NewRSAKey(t)
	rsaPub := &rsaKey.PublicKey
	ecPub := &certstoretest.NewECKey(t).PublicKey
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, edPub, _ := ed25519.GenerateKey(rand.Reader)
	d := func(h crypto.Hash) []byte { return make([]byte, h.Size()) }
	pss := func(h crypto.Hash, salt int) *rsa.PSSOptions { return &rsa.PSSOptions{Hash: h, SaltLength: salt} }
	tests := []struct {
		name   string
		pub    crypto.PublicKey
		digest []byte
		opts   crypto.SignerOpts
		want   SignParams
		err    error
	}{
		{"rsa pkcs1 sha256", rsaPub, d(crypto.SHA256), crypto.SHA256, SignParams{Padding: PaddingPKCS1, AlgID: "SHA256", Hash: crypto.SHA256, SigLen: 256}, nil},
		{"rsa pkcs1 sha1", rsaPub, d(crypto.SHA1), crypto.SHA1, SignParams{Padding: PaddingPKCS1, AlgID: "SHA1", Hash: crypto.SHA1, SigLen: 256}, nil},
		{"rsa pkcs1 sha384", rsaPub, d(crypto.SHA384), crypto.SHA384, SignParams{Padding: PaddingPKCS1, AlgID: "SHA384", Hash: crypto.SHA384, SigLen: 256}, nil},
		{"rsa pkcs1 sha512", rsaPub, d(crypto.SHA512), crypto.SHA512, SignParams{Padding: PaddingPKCS1, AlgID: "SHA512", Hash: crypto.SHA512, SigLen: 256}, nil},
		{"rsa tls1.0 md5sha1", rsaPub, d(crypto.MD5SHA1), crypto.MD5SHA1, SignParams{Padding: PaddingPKCS1, Hash: crypto.MD5SHA1, SigLen: 256}, nil},
		{"rsa raw", rsaPub, make([]byte, 40), crypto.Hash(0), SignParams{Padding: PaddingPKCS1, SigLen: 256}, nil},
		{"rsa raw too long", rsaPub, make([]byte, 250), crypto.Hash(0), SignParams{}, ErrSignUnsupported},
		{"rsa pss tls", rsaPub, d(crypto.SHA256), pss(crypto.SHA256, rsa.PSSSaltLengthEqualsHash), SignParams{Padding: PaddingPSS, AlgID: "SHA256", SaltLen: 32, Hash: crypto.SHA256, SigLen: 256}, nil},
		{"rsa pss sha512 equals hash", rsaPub, d(crypto.SHA512), pss(crypto.SHA512, rsa.PSSSaltLengthEqualsHash), SignParams{Padding: PaddingPSS, AlgID: "SHA512", SaltLen: 64, Hash: crypto.SHA512, SigLen: 256}, nil},
		{"rsa pss auto is max", rsaPub, d(crypto.SHA256), pss(crypto.SHA256, rsa.PSSSaltLengthAuto), SignParams{Padding: PaddingPSS, AlgID: "SHA256", SaltLen: 256 - 2 - 32, Hash: crypto.SHA256, SigLen: 256}, nil},
		{"rsa pss explicit", rsaPub, d(crypto.SHA384), pss(crypto.SHA384, 20), SignParams{Padding: PaddingPSS, AlgID: "SHA384", SaltLen: 20, Hash: crypto.SHA384, SigLen: 256}, nil},
		{"rsa pss salt too big", rsaPub, d(crypto.SHA256), pss(crypto.SHA256, 223), SignParams{}, ErrSignUnsupported},
		{"rsa pss bad salt", rsaPub, d(crypto.SHA256), pss(crypto.SHA256, -3), SignParams{}, ErrSignUnsupported},
		{"rsa pss md5sha1", rsaPub, d(crypto.MD5SHA1), pss(crypto.MD5SHA1, rsa.PSSSaltLengthEqualsHash), SignParams{}, ErrSignUnsupported},
		{"rsa sha3 unsupported", rsaPub, d(crypto.SHA3_256), crypto.SHA3_256, SignParams{}, ErrSignUnsupported},
		{"digest length mismatch", rsaPub, d(crypto.SHA1), crypto.SHA256, SignParams{}, ErrSignUnsupported},
		{"nil opts", rsaPub, d(crypto.SHA256), nil, SignParams{}, ErrSignUnsupported},
		{"ecdsa p256", ecPub, d(crypto.SHA256), crypto.SHA256, SignParams{Padding: PaddingNone, Hash: crypto.SHA256, SigLen: 64, CoordLen: 32}, nil},
		{"ecdsa p384 tls1.0 sha1", &p384.PublicKey, d(crypto.SHA1), crypto.SHA1, SignParams{Padding: PaddingNone, Hash: crypto.SHA1, SigLen: 96, CoordLen: 48}, nil},
		{"ecdsa with pss", ecPub, d(crypto.SHA256), pss(crypto.SHA256, rsa.PSSSaltLengthEqualsHash), SignParams{}, ErrSignUnsupported},
		{"ecdsa empty digest", ecPub, nil, crypto.Hash(0), SignParams{}, ErrSignUnsupported},
		{"ed25519", edPub, []byte("msg"), crypto.Hash(0), SignParams{}, ErrSignUnsupported},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParamsFor(tc.pub, tc.digest, tc.opts)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestBCryptAlgIDRoundTrip(t *testing.T) {
	for h, id := range map[crypto.Hash]string{crypto.SHA1: "SHA1", crypto.SHA256: "SHA256", crypto.SHA384: "SHA384", crypto.SHA512: "SHA512", crypto.MD5: "MD5"} {
		got, err := BCryptAlgID(h)
		if err != nil || got != id {
			t.Errorf("BCryptAlgID(%v) = %q, %v", h, got, err)
		}
		if back, ok := hashFromAlgID(id); !ok || back != h {
			t.Errorf("hashFromAlgID(%q) = %v", id, back)
		}
	}
	if _, err := BCryptAlgID(crypto.SHA512_256); !errors.Is(err, ErrSignUnsupported) {
		t.Errorf("SHA512_256: %v", err)
	}
}

// PSS signatures made with the salt ParamsFor computes verify the way
// crypto/tls verifies them (rsa.PSSSaltLengthEqualsHash).
func TestPSSSaltMatchesTLSVerification(t *testing.T) {
	key := certstoretest.NewRSAKey(t)
	ca := certstoretest.NewCA(t)
	s := newStoreSigner(ca.Issue(t, "mail.contoso.com", &key.PublicKey), "test", &fakeNCrypt{key: key})
	for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512} {
		hh := h.New()
		hh.Write([]byte("tls transcript"))
		digest := hh.Sum(nil)
		opts := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h}
		sig, err := s.Sign(rand.Reader, digest, opts)
		if err != nil {
			t.Fatal(err)
		}
		if err := rsa.VerifyPSS(&key.PublicKey, h, digest, sig, opts); err != nil {
			t.Fatalf("%v: %v", h, err)
		}
	}
}

func TestStoreSignerSignsAndCloses(t *testing.T) {
	ca := certstoretest.NewCA(t)
	for _, key := range []crypto.Signer{certstoretest.NewRSAKey(t), certstoretest.NewECKey(t)} {
		f := &fakeNCrypt{key: key}
		s := newStoreSigner(ca.Issue(t, "mail.contoso.com", key.Public()), `windows:LocalMachine\My ABC`, f)
		if err := VerifyKeyPair(s, key.Public()); err != nil {
			t.Fatalf("%T: %v", key, err)
		}
		if s.Public() != s.Certificate().PublicKey {
			t.Fatal("Public is not the certificate's key")
		}
		var wg sync.WaitGroup
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d := sha256.Sum256([]byte("x"))
				if _, err := s.Sign(nil, d[:], crypto.SHA256); err != nil && !errors.Is(err, ErrSignerClosed) {
					t.Error(err)
				}
			}()
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if f.closed != 1 {
			t.Fatalf("closed %d times", f.closed)
		}
		d := sha256.Sum256([]byte("y"))
		if _, err := s.Sign(nil, d[:], crypto.SHA256); !errors.Is(err, ErrSignerClosed) || !strings.Contains(err.Error(), `LocalMachine\My ABC`) {
			t.Fatalf("Sign after Close: %v", err)
		}
	}
}

func TestVerifyKeyPairMismatch(t *testing.T) {
	ca := certstoretest.NewCA(t)
	for _, pair := range [][2]crypto.Signer{{certstoretest.NewRSAKey(t), certstoretest.NewRSAKey(t)}, {certstoretest.NewECKey(t), certstoretest.NewECKey(t)}} {
		// The store associates the certificate of one key with another key.
		s := newStoreSigner(ca.Issue(t, "mail.contoso.com", pair[0].Public()), "test", &fakeNCrypt{key: pair[1]})
		if err := VerifyKeyPair(s, s.Public()); !errors.Is(err, ErrKeyMismatch) {
			t.Fatalf("%T: %v", pair[0], err)
		}
	}
	// A key type NCrypt is not asked to sign.
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	if err := VerifyKeyPair(ed, ed.Public()); err == nil {
		t.Fatal("ed25519 accepted")
	}
}

// brokenNCrypt returns signatures of the wrong shape.
type brokenNCrypt struct{ sig []byte }

func (b brokenNCrypt) signHash(SignParams, []byte) ([]byte, error) { return b.sig, nil }
func (b brokenNCrypt) close() error                                { return errors.New("close failed") }

func TestStoreSignerRejectsMalformedSignatures(t *testing.T) {
	ca := certstoretest.NewCA(t)
	rk, ek := certstoretest.NewRSAKey(t), certstoretest.NewECKey(t)
	d := sha256.Sum256([]byte("z"))
	for _, tc := range []struct {
		key crypto.Signer
		sig []byte
	}{{rk, make([]byte, 255)}, {ek, make([]byte, 63)}, {ek, make([]byte, 64)}} {
		s := newStoreSigner(ca.Issue(t, "m", tc.key.Public()), "test", brokenNCrypt{tc.sig})
		if _, err := s.Sign(nil, d[:], crypto.SHA256); err == nil {
			t.Errorf("%T: %d-byte signature accepted", tc.key, len(tc.sig))
		}
		if err := s.Close(); err == nil {
			t.Error("close error lost")
		}
	}
}

func TestParseStoreCertChecksThumbprint(t *testing.T) {
	ca := certstoretest.NewCA(t)
	c := ca.Issue(t, "mail.contoso.com", certstoretest.NewECKey(t).Public())
	tp := thumbprint.OfDER(c.Raw)
	if got, err := parseStoreCert(c.Raw, strings.ToLower(tp)); err != nil || !got.Equal(c) {
		t.Fatalf("parseStoreCert: %v", err)
	}
	if _, err := parseStoreCert(c.Raw, thumbprint.OfDER(ca.Cert.Raw)); !errors.Is(err, ErrThumbprintMismatch) {
		t.Fatalf("wrong thumbprint: %v", err)
	}
	if _, err := parseStoreCert([]byte("junk"), thumbprint.OfDER([]byte("junk"))); !errors.Is(err, certstore.ErrMalformed) {
		t.Fatalf("junk: %v", err)
	}
}

// A real mutual-TLS handshake at every version with the client key behind
// the fake NCrypt: exercises the exact SignerOpts crypto/tls passes
// (MD5SHA1 at TLS 1.0/1.1, PKCS#1 or PSS at 1.2, PSS with
// PSSSaltLengthEqualsHash at 1.3, ECDSA everywhere).
func TestStoreSignerMutualTLS(t *testing.T) {
	ca := certstoretest.NewCA(t)
	serverKey := certstoretest.NewECKey(t)
	serverCert := ca.Issue(t, "mx.partner.example", &serverKey.PublicKey)
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	versions := map[uint16]string{tls.VersionTLS10: "1.0", tls.VersionTLS11: "1.1", tls.VersionTLS12: "1.2", tls.VersionTLS13: "1.3"}
	for _, key := range []crypto.Signer{certstoretest.NewRSAKey(t), certstoretest.NewECKey(t), p384} {
		for v, vname := range versions {
			t.Run(fmt.Sprintf("%s/%s", keyName(key), vname), func(t *testing.T) {
				f := &fakeNCrypt{key: key}
				leaf := ca.Issue(t, "mail.contoso.com", key.Public())
				s := newStoreSigner(leaf, "test", f)
				defer s.Close()
				srv := &tls.Config{
					Certificates: []tls.Certificate{{Certificate: [][]byte{serverCert.Raw}, PrivateKey: serverKey}},
					ClientAuth:   tls.RequireAndVerifyClientCert,
					ClientCAs:    pool,
					MinVersion:   v, MaxVersion: v,
				}
				cli := &tls.Config{
					Certificates: []tls.Certificate{{Certificate: [][]byte{leaf.Raw}, PrivateKey: s, Leaf: leaf}},
					RootCAs:      pool,
					ServerName:   "mx.partner.example",
					MinVersion:   v, MaxVersion: v,
				}
				if err := handshake(t, cli, srv); err != nil {
					t.Fatal(err)
				}
				calls := f.paddings()
				if len(calls) != 1 {
					t.Fatalf("%d signatures", len(calls))
				}
				p := calls[0]
				if _, isRSA := key.(*rsa.PrivateKey); isRSA {
					switch {
					case v <= tls.VersionTLS11 && (p.Padding != PaddingPKCS1 || p.AlgID != "" || p.Hash != crypto.MD5SHA1):
						t.Fatalf("TLS %s RSA: %+v", vname, p)
					case v == tls.VersionTLS13 && (p.Padding != PaddingPSS || p.SaltLen != p.Hash.Size()):
						t.Fatalf("TLS 1.3 RSA: %+v", p)
					}
				} else if p.Padding != PaddingNone {
					t.Fatalf("ECDSA: %+v", p)
				}
			})
		}
	}
}

func handshake(t *testing.T, cli, srv *tls.Config) error {
	t.Helper()
	c1, c2 := net.Pipe()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		// Close the pipe, not the tls.Conn: close_notify would block on
		// the unread pipe.
		defer c2.Close()
		errc <- tls.Server(c2, srv).HandshakeContext(ctx)
	}()
	defer c1.Close()
	cerr := tls.Client(c1, cli).HandshakeContext(ctx)
	serr := <-errc
	if cerr != nil || serr != nil {
		return fmt.Errorf("client: %v; server: %v", cerr, serr)
	}
	return nil
}

func keyName(k crypto.Signer) string {
	switch k := k.(type) {
	case *rsa.PrivateKey:
		return fmt.Sprintf("RSA-%d", k.N.BitLen())
	case *ecdsa.PrivateKey:
		return "ECDSA-" + k.Curve.Params().Name
	}
	return fmt.Sprintf("%T", k)
}
