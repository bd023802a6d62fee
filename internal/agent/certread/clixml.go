package certread

import (
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mxprobe/mxprobe/internal/agent/clixml"
	"github.com/mxprobe/mxprobe/internal/certstore"
	"github.com/mxprobe/mxprobe/internal/thumbprint"
)

// Export-Clixml certificate stores.
//
// snapshot:FILE also reads what admins export on the server:
//
//	Get-ChildItem Cert:\LocalMachine\My | Export-Clixml my.xml
//	Get-ExchangeCertificate | Export-Clixml exchange.xml
//
// (UTF-16 LE from Windows PowerShell, UTF-8 with or without BOM), a file
// holding both, or snapshot:DIR for a directory of such files. An
// X509Certificate2 serializes only its RawData, so what is known about the
// private key depends on what was exported:
//   - a HasPrivateKey property (Select-Object * before exporting) says it;
//   - a certificate Get-ExchangeCertificate lists has a private key (it
//     lists no other);
//   - a certificate of Cert:\LocalMachine\My that Get-ExchangeCertificate
//     in the same export does not list has none usable: the seed incident's
//     keyless duplicate;
//   - otherwise nothing is known, and the certificate is read as having a
//     key whose state is unknown (KeyUnknown), so nothing is claimed about it.

const maxCLIXMLStoreFiles = 64

// isCLIXMLFile reports whether path (a file) starts like a CLIXML export.
func isCLIXMLFile(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 512)
	n, _ := f.Read(head)
	return clixml.Is(head[:n])
}

// readCLIXMLPath reads a CLIXML file or a directory of them.
func readCLIXMLPath(path string, max int64) (certstore.Contents, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return certstore.Contents{}, fmt.Errorf("certread: snapshot:%s: %w", path, err)
	}
	paths := []string{path}
	if fi.IsDir() {
		ents, err := os.ReadDir(path)
		if err != nil {
			return certstore.Contents{}, fmt.Errorf("certread: snapshot:%s: %w", path, err)
		}
		paths = nil
		for _, e := range ents {
			ext := strings.ToLower(filepath.Ext(e.Name()))
			if e.Type().IsRegular() && (ext == ".xml" || ext == ".clixml") && isCLIXMLFile(filepath.Join(path, e.Name())) {
				paths = append(paths, filepath.Join(path, e.Name()))
			}
		}
		if len(paths) > maxCLIXMLStoreFiles {
			return certstore.Contents{}, fmt.Errorf("%w: snapshot:%s holds more than %d Export-Clixml files", ErrBadSnapshot, path, maxCLIXMLStoreFiles)
		}
	}
	var docs []namedDoc
	var total int64
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return certstore.Contents{}, fmt.Errorf("certread: snapshot:%s: %w", p, err)
		}
		total += int64(len(b))
		if total > max {
			return certstore.Contents{}, fmt.Errorf("%w: snapshot:%s is larger than %d bytes", certstore.ErrFileTooLarge, path, max)
		}
		docs = append(docs, namedDoc{p, b})
	}
	return ReadCLIXML(docs, `windows:LocalMachine\My`, fi.ModTime())
}

type namedDoc struct {
	name string
	data []byte
}

// ReadCLIXML reads certificates from Export-Clixml documents (see the
// comment at the top of clixml.go); location names the store they came
// from, capturedAt when.
func ReadCLIXML(docs []namedDoc, location string, capturedAt time.Time) (certstore.Contents, error) {
	type entry struct {
		c        certstore.Certificate
		fromMy   bool
		fromExch bool
		hasKey   *bool
	}
	inv := certstore.Contents{Location: location, ReadAt: capturedAt}
	var order []string
	byTP := map[string]*entry{}
	exchangeListed := false
	for _, d := range docs {
		vs, err := clixml.DecodeBytes(d.data)
		if err != nil {
			return certstore.Contents{}, fmt.Errorf("%w: %s: %w", ErrBadSnapshot, d.name, err)
		}
		for i, v := range clixml.Records(vs) {
			raw := v.Prop("RawData")
			if raw == nil || raw.Kind != clixml.Bytes {
				continue
			}
			inv.Examined++
			src := fmt.Sprintf("%s: object %d", d.name, i+1)
			cert, err := x509.ParseCertificate(raw.Bytes)
			if err != nil {
				inv.Problems = append(inv.Problems, problemf(src, certstore.ErrMalformed, "RawData is not a valid certificate: %v", err))
				continue
			}
			tp := thumbprint.OfDER(raw.Bytes)
			if t := v.Prop("Thumbprint"); t != nil && t.Str() != "" && thumbprint.Normalize(t.Str()) != tp {
				inv.Problems = append(inv.Problems, problemf(src, ErrThumbprintMismatch, "object says %s but its RawData hashes to %s; ignored", t.Str(), tp))
				continue
			}
			e := byTP[tp]
			if e == nil {
				e = &entry{c: certstore.Certificate{Thumbprint: tp, Cert: cert, Source: location, Sources: []string{location}}}
				byTP[tp] = e
				order = append(order, tp)
			}
			isExch := v.HasType("ExchangeCertificate")
			if isExch {
				e.fromExch, exchangeListed = true, true
			} else {
				e.fromMy = true
			}
			if hk := v.Prop("HasPrivateKey"); hk != nil && hk.Kind == clixml.Bool {
				b := hk.Bool
				e.hasKey = &b
			}
			if fn := v.Prop("FriendlyName"); fn != nil && fn.Str() != "" {
				e.c.FriendlyName = fn.Str()
			}
			if sv := v.Prop("Services"); sv != nil && sv.Str() != "" {
				for _, s := range strings.Split(sv.Str(), ",") {
					if s = strings.TrimSpace(s); s != "" && !strings.EqualFold(s, "None") {
						e.c.Services = append(e.c.Services, s)
					}
				}
			}
		}
	}
	for _, tp := range order {
		e := byTP[tp]
		c := e.c
		switch {
		case e.hasKey != nil:
			c.HasPrivateKey = *e.hasKey
			c.Key = certstore.KeyUnknown
			if !*e.hasKey {
				c.Key, c.KeyDetail = certstore.KeyAbsent, "the export's HasPrivateKey is false"
			}
		case e.fromExch:
			c.HasPrivateKey, c.Key = true, certstore.KeyUnknown
			c.KeyDetail = "listed by Get-ExchangeCertificate, which lists only certificates with a private key; whether NETWORK SERVICE can read it is not in the export"
		case exchangeListed:
			c.HasPrivateKey, c.Key = false, certstore.KeyAbsent
			c.KeyDetail = "in Cert:\\LocalMachine\\My but not listed by Get-ExchangeCertificate in the same export, which lists every certificate with a private key"
		default:
			c.HasPrivateKey, c.Key = true, certstore.KeyUnknown
			c.KeyDetail = "the export does not record the private key (an X509Certificate2 serializes only RawData): export Get-ExchangeCertificate into the same file or directory, or use agent inventory export, to know"
		}
		inv.Certificates = append(inv.Certificates, c)
	}
	return inv, nil
}
