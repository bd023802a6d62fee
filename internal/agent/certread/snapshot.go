package certread

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mxprobe/mxprobe/internal/agent/ctxio"
	"github.com/mxprobe/mxprobe/internal/certstore"
	"github.com/mxprobe/mxprobe/internal/thumbprint"
)

// Snapshot format identifiers; see docs/snapshot-format.md.
const (
	SnapshotFormat  = "mxprobe.certstore.snapshot"
	SnapshotVersion = 1
)

// snapshotDoc is the on-disk JSON document (version 1).
type snapshotDoc struct {
	Format       string          `json:"format"`
	Version      int             `json:"version"`
	Location     string          `json:"location"`
	CapturedAt   time.Time       `json:"captured_at"`
	Certificates []snapshotCert  `json:"certificates"`
	Problems     []snapshotIssue `json:"problems,omitempty"`
}

type snapshotCert struct {
	Thumbprint          string   `json:"thumbprint"`
	DER                 string   `json:"der"`
	Source              string   `json:"source,omitempty"`
	Sources             []string `json:"sources,omitempty"`
	HasPrivateKey       bool     `json:"has_private_key"`
	KeyStatus           string   `json:"key_status"`
	KeyDetail           string   `json:"key_detail,omitempty"`
	KeySource           string   `json:"key_source,omitempty"`
	TransportCanReadKey *bool    `json:"transport_can_read_key,omitempty"`
	FriendlyName        string   `json:"friendly_name,omitempty"`
	Services            []string `json:"services,omitempty"`
}

type snapshotIssue struct {
	Source string `json:"source"`
	Error  string `json:"error"`
}

// WriteSnapshot writes inv as a version-1 snapshot document (indented JSON).
// Thumbprints are recomputed from the DER, so a snapshot is always
// self-consistent. Every certificate must have a parsed Cert.
func WriteSnapshot(w io.Writer, inv certstore.Contents) error {
	doc := snapshotDoc{
		Format:       SnapshotFormat,
		Version:      SnapshotVersion,
		Location:     inv.Location,
		CapturedAt:   inv.ReadAt.UTC(),
		Certificates: make([]snapshotCert, 0, len(inv.Certificates)),
	}
	for i, c := range inv.Certificates {
		if c.Cert == nil || len(c.Cert.Raw) == 0 {
			return fmt.Errorf("certread: WriteSnapshot: certificate %d (%s) has no DER", i, c.Thumbprint)
		}
		doc.Certificates = append(doc.Certificates, snapshotCert{
			Thumbprint:          thumbprint.OfDER(c.Cert.Raw),
			DER:                 base64.StdEncoding.EncodeToString(c.Cert.Raw),
			Source:              c.Source,
			Sources:             c.Sources,
			HasPrivateKey:       c.HasPrivateKey,
			KeyStatus:           c.Key.String(),
			KeyDetail:           c.KeyDetail,
			KeySource:           c.KeySource,
			TransportCanReadKey: c.TransportCanReadKey,
			FriendlyName:        c.FriendlyName,
			Services:            c.Services,
		})
	}
	for _, p := range inv.Problems {
		msg := ""
		if p.Err != nil {
			msg = p.Err.Error()
		}
		doc.Problems = append(doc.Problems, snapshotIssue{Source: p.Source, Error: msg})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(&doc); err != nil {
		return fmt.Errorf("certread: WriteSnapshot: %w", err)
	}
	return nil
}

// ReadSnapshot parses a snapshot document (at most DefaultMaxSnapshotBytes).
// A document that is not a snapshot at all is an error (ErrBadSnapshot,
// ErrSnapshotVersion, ErrFileTooLarge); a bad entry inside a valid document
// is a Problem and the rest is still read. Problems recorded when the
// snapshot was captured come back with *RecordedError values.
func ReadSnapshot(r io.Reader) (certstore.Contents, error) {
	return readSnapshot(r, certstore.DefaultMaxSnapshotBytes, "snapshot")
}

func readSnapshot(r io.Reader, max int64, name string) (certstore.Contents, error) {
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return certstore.Contents{}, fmt.Errorf("certread: %s: %w", name, err)
	}
	if int64(len(data)) > max {
		return certstore.Contents{}, fmt.Errorf("%w: %s is larger than %d bytes", certstore.ErrFileTooLarge, name, max)
	}
	var doc snapshotDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		return certstore.Contents{}, fmt.Errorf("%w: %s: %v", ErrBadSnapshot, name, err)
	}
	if doc.Format != SnapshotFormat {
		return certstore.Contents{}, fmt.Errorf("%w: %s: format is %q, want %q", ErrBadSnapshot, name, doc.Format, SnapshotFormat)
	}
	if doc.Version != SnapshotVersion {
		if doc.Version > SnapshotVersion {
			return certstore.Contents{}, fmt.Errorf("%w: %s: version %d is newer than this agent understands (%d)", ErrSnapshotVersion, name, doc.Version, SnapshotVersion)
		}
		return certstore.Contents{}, fmt.Errorf("%w: %s: version %d", ErrBadSnapshot, name, doc.Version)
	}

	inv := certstore.Contents{Location: doc.Location, ReadAt: doc.CapturedAt, Snapshot: name, Examined: len(doc.Certificates)}
	seen := make(map[string]bool, len(doc.Certificates))
	for i, sc := range doc.Certificates {
		src := fmt.Sprintf("%s: certificates[%d]", name, i)
		c, p := sc.certificate(src, doc.Location)
		if p != nil {
			inv.Problems = append(inv.Problems, *p)
			continue
		}
		if seen[c.Thumbprint] {
			inv.Problems = append(inv.Problems, problemf(src, ErrBadSnapshot, "duplicate entry for %s ignored", c.Thumbprint))
			continue
		}
		seen[c.Thumbprint] = true
		inv.Certificates = append(inv.Certificates, c)
	}
	for _, sp := range doc.Problems {
		inv.Problems = append(inv.Problems, certstore.Problem{Source: sp.Source, Err: &RecordedError{Message: sp.Error}})
	}
	return inv, nil
}

// certificate validates one entry.
func (sc *snapshotCert) certificate(src, location string) (certstore.Certificate, *certstore.Problem) {
	der, err := base64.StdEncoding.DecodeString(sc.DER)
	if err != nil {
		p := problemf(src, certstore.ErrMalformed, "der is not valid base64: %v", err)
		return certstore.Certificate{}, &p
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		p := problemf(src, certstore.ErrMalformed, "der is not a valid certificate: %v", err)
		return certstore.Certificate{}, &p
	}
	thumb := thumbprint.OfDER(der)
	if sc.Thumbprint != "" && thumbprint.Normalize(sc.Thumbprint) != thumb {
		p := problemf(src, ErrThumbprintMismatch, "entry says %s but its DER hashes to %s; entry ignored (tampered or corrupt)", sc.Thumbprint, thumb)
		return certstore.Certificate{}, &p
	}
	c := certstore.Certificate{
		Thumbprint:          thumb,
		Cert:                cert,
		HasPrivateKey:       sc.HasPrivateKey,
		KeyDetail:           sc.KeyDetail,
		KeySource:           sc.KeySource,
		TransportCanReadKey: sc.TransportCanReadKey,
		Source:              sc.Source,
		Sources:             sc.Sources,
		FriendlyName:        sc.FriendlyName,
		Services:            sc.Services,
	}
	c.Key, err = certstore.ParseKeyStatus(sc.KeyStatus)
	if err != nil {
		c.Key = certstore.KeyUnknown
		c.KeyDetail = fmt.Sprintf("snapshot key_status %q not understood; %s", sc.KeyStatus, sc.KeyDetail)
	}
	if c.Source == "" {
		c.Source = location
	}
	if len(c.Sources) == 0 {
		c.Sources = []string{c.Source}
	}
	return c, nil
}

// snapshotStore is the snapshot:FILE backend.
type snapshotStore struct {
	path string
	opts certstore.Options
}

func (s *snapshotStore) Read(ctx context.Context) (certstore.Contents, error) {
	if err := ctx.Err(); err != nil {
		return certstore.Contents{}, fmt.Errorf("certread: snapshot:%s: %w", s.path, err)
	}
	if fi, err := os.Stat(s.path); err == nil && (fi.IsDir() || isCLIXMLFile(s.path)) {
		inv, err := readCLIXMLPath(s.path, s.opts.MaxSnapshotBytes)
		if err == nil {
			inv.Snapshot = s.path
		}
		return inv, err
	}
	f, err := os.Open(s.path)
	if err != nil {
		return certstore.Contents{}, fmt.Errorf("certread: snapshot:%s: %w", s.path, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > s.opts.MaxSnapshotBytes {
		return certstore.Contents{}, fmt.Errorf("%w: snapshot:%s is %d bytes, limit %d", certstore.ErrFileTooLarge, s.path, fi.Size(), s.opts.MaxSnapshotBytes)
	}
	inv, err := readSnapshot(ctxio.Reader(ctx, f), s.opts.MaxSnapshotBytes, s.path)
	if err != nil {
		return certstore.Contents{}, err
	}
	return inv, nil
}
