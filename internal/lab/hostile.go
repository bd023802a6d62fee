package lab

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"time"
)

// hugeLine sends a 1 MiB line with no newline, then waits for the peer to
// give up.
func (ss *session) hugeLine() error {
	if err := ss.write(bytes.Repeat([]byte{'2'}, hugeLineSize)); err != nil {
		return err
	}
	return ss.drain()
}

// dripBanner writes the banner one byte per DripInterval.
func (ss *session) dripBanner() error {
	var buf bytes.Buffer
	for i, l := range ss.bannerLines() {
		sep := "-"
		if i == len(ss.bannerLines())-1 {
			sep = " "
		}
		fmt.Fprintf(&buf, "220%s%s\r\n", sep, l)
	}
	t := time.NewTicker(ss.srv.opts.DripInterval)
	defer t.Stop()
	for _, b := range buf.Bytes() {
		select {
		case <-ss.srv.done:
			return nil
		case <-t.C:
		}
		if err := ss.write([]byte{b}); err != nil {
			return err
		}
	}
	return nil
}

// endless answers with 250- continuation lines until the write fails.
func (ss *session) endless() error {
	for i := 0; ; i++ {
		select {
		case <-ss.srv.done:
			return nil
		default:
		}
		if err := ss.write(fmt.Appendf(nil, "250-X-ENDLESS-%d\r\n", i)); err != nil {
			return err
		}
	}
}

// garbageTLS reads the ClientHello and answers with pseudo-random bytes that
// cannot be mistaken for a TLS record.
func (ss *session) garbageTLS() error {
	if _, err := ss.readRecord(); err != nil {
		return err
	}
	junk := make([]byte, 2048)
	// A fixed seed keeps the scenario deterministic.
	rng := rand.NewChaCha8([32]byte{'m', 'x', 'p', 'r', 'o', 'b', 'e', ' ', 'g', 'a', 'r', 'b', 'a', 'g', 'e'})
	_, _ = rng.Read(junk)
	if junk[0] == 0x15 || junk[0] == 0x16 { // alert, handshake
		junk[0] ^= 0x80
	}
	if err := ss.write(junk); err != nil {
		return err
	}
	if err := ss.drain(); err != nil {
		return err
	}
	return errHangUp
}

// closeMidHandshake reads the whole ClientHello record and closes.
func (ss *session) closeMidHandshake() error {
	if _, err := ss.readRecord(); err != nil {
		return err
	}
	return errHangUp
}

// readRecord reads one TLS record (header and body) from the raw connection.
func (ss *session) readRecord() ([]byte, error) {
	_ = ss.raw.SetReadDeadline(time.Now().Add(ss.srv.opts.IdleTimeout))
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(ss.r, hdr); err != nil {
		return nil, fmt.Errorf("lab: read record header: %w", err)
	}
	n := int(binary.BigEndian.Uint16(hdr[3:]))
	body := make([]byte, min(n, 1<<14+2048))
	if _, err := io.ReadFull(ss.r, body); err != nil {
		return nil, fmt.Errorf("lab: read record body: %w", err)
	}
	return append(hdr, body...), nil
}

// resetAfterClientHello reads the ClientHello and aborts the connection
// with a TCP reset (SO_LINGER 0), as inspecting firewalls do.
func (ss *session) resetAfterClientHello() error {
	if _, err := ss.readRecord(); err != nil {
		return err
	}
	if tc, ok := ss.raw.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	return errHangUp
}

// certNotTrusted reports a client certificate missing or not verifying
// against the server's client CAs.
func (ss *session) certNotTrusted(cs tls.ConnectionState) bool {
	if len(cs.PeerCertificates) == 0 {
		return true
	}
	pool := ss.srv.opts.ClientCAs
	if pool == nil {
		pool = ss.srv.ca.Pool()
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	return err != nil
}

// refuseUntrustedClient answers the EHLO that follows the handshake the way
// Exchange refuses a partner certificate it does not trust, and hangs up.
func (ss *session) refuseUntrustedClient() error {
	if _, err := ss.readLine(); err != nil {
		return err
	}
	if err := ss.reply(421, "4.7.1 Client certificate not trusted, closing transmission channel"); err != nil {
		return err
	}
	return errHangUp
}
