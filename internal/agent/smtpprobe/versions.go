package smtpprobe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
)

// probedVersions are the versions ProbeVersions tries, oldest first.
func probedVersions() []uint16 {
	return []uint16{tls.VersionTLS10, tls.VersionTLS11, tls.VersionTLS12, tls.VersionTLS13}
}

// probeVersions repeats the dialogue up to the handshake once per version,
// sequentially (gentle on the server), within ctx's deadline.
func probeVersions(ctx context.Context, addr string, opts Options, suites []uint16) []VersionResult {
	var out []VersionResult
	for _, v := range probedVersions() {
		vr := VersionResult{Version: v, Name: tls.VersionName(v)}
		var scratch Result
		s := &session{ctx: ctx, opts: opts, res: &scratch, addr: addr, suites: suites}
		vr.Err = s.runVersion(v)
		s.close()
		vr.Supported = vr.Err == nil
		vr.Outcome = versionOutcome(&scratch, vr.Err)
		out = append(out, vr)
	}
	return out
}

// versionOutcome says what one pinned handshake proved: only a completed
// handshake, an alert, or a close/reset before the server sent anything
// back (with no deadline involved) say something about the version.
func versionOutcome(r *Result, err error) VersionOutcome {
	switch {
	case err == nil:
		return VersionAccepted
	case !errors.Is(err, ErrHandshake) || errors.Is(err, ErrTimeout) || r.TLS == nil:
		return VersionUnknown
	case r.TLS.Alert != "":
		return VersionRefused
	case errors.Is(err, ErrClosed) && r.TLS.ServerBytes == 0:
		return VersionDropped
	}
	return VersionUnknown
}

func (s *session) runVersion(v uint16) error {
	for _, step := range []func() error{s.connect, s.greeting, s.hello, s.startTLS} {
		if err := step(); err != nil {
			return err
		}
	}
	if err := s.handshake(v, v); err != nil {
		return err
	}
	if got := s.res.TLS.Version; got != v {
		return fmt.Errorf("%w: asked for %s, got %s", ErrProtocol, tls.VersionName(v), tls.VersionName(got))
	}
	s.quit()
	return nil
}
