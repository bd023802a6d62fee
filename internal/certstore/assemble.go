package certstore

import (
	"crypto/x509"
	"fmt"
	"sort"
)

// assemble merges per-file results into certificates and problems.
//
// Key status rules (pemdir), strongest first:
//
//  1. A parseable private key anywhere in the store whose public key equals
//     the certificate's: HasPrivateKey, KeyUsable, KeySource = that file.
//  2. A broken private key (fails crypto/x509's checks) whose public half
//     still equals the certificate's: HasPrivateKey, KeyUnusable.
//  3. The certificate is the first one of a file that also holds key
//     material none of which matches any certificate of that file (an
//     encrypted key next to it, a PFX whose key is for another certificate):
//     the file claims a key for it that cannot be used. HasPrivateKey,
//     KeyUnusable, KeySource = that file. Windows would associate such a key
//     with the certificate, and TLS would then fail.
//  4. No key found, but the store has key material that could not be read
//     (a PFX with an unknown password, an encrypted or corrupt key file not
//     stored with a certificate): KeyUnknown, HasPrivateKey=false, KeyDetail
//     names those files. Claiming "absent" would be a guess.
//  5. Otherwise KeyAbsent.
//
// Certificates with identical DER are reported once, with every file in
// Sources. The output is sorted by thumbprint.
func assemble(results []fileResult) ([]Certificate, []Problem) {
	type keyRec struct {
		usableSrc string
		brokenSrc string
		brokenErr error
	}
	type claim struct {
		src, detail string
	}
	type certAgg struct {
		cert    *x509.Certificate
		thumb   string
		keyID   pubKeyID
		sources []string
		claim   *claim
	}

	keys := make(map[pubKeyID]*keyRec)
	certs := make(map[string]*certAgg)
	var opaque []string
	var problems []Problem

	for i := range results {
		r := &results[i]
		problems = append(problems, r.problems...)
		for _, k := range r.keys {
			rec := keys[k.id]
			if rec == nil {
				rec = &keyRec{}
				keys[k.id] = rec
			}
			switch {
			case k.err == nil && rec.usableSrc == "":
				rec.usableSrc = r.source
			case k.err != nil && rec.brokenSrc == "":
				rec.brokenSrc, rec.brokenErr = r.source, k.err
			}
		}
		for _, c := range r.certs {
			agg := certs[c.thumb]
			if agg == nil {
				agg = &certAgg{cert: c.cert, thumb: c.thumb, keyID: c.keyID}
				certs[c.thumb] = agg
			}
			if n := len(agg.sources); n == 0 || agg.sources[n-1] != r.source {
				agg.sources = append(agg.sources, r.source)
			}
		}

		// Co-location claim (rule 3) and opaque material (rule 4).
		hasKeyMaterial := len(r.keys) > 0 || len(r.opaque) > 0
		if !hasKeyMaterial {
			continue
		}
		if len(r.certs) == 0 {
			opaque = append(opaque, r.opaque...)
			continue
		}
		matched := false
		for _, k := range r.keys {
			for _, c := range r.certs {
				if k.id == c.keyID {
					matched = true
				}
			}
		}
		if matched {
			opaque = append(opaque, r.opaque...)
			continue
		}
		leaf := certs[r.certs[0].thumb]
		if leaf.claim == nil {
			detail := fmt.Sprintf("the private key stored with this certificate in %s does not match its public key", r.source)
			if len(r.opaque) > 0 {
				detail = fmt.Sprintf("the private key stored with this certificate cannot be read: %s", shortList(r.opaque, 3))
			}
			leaf.claim = &claim{src: r.source, detail: detail}
		}
	}

	out := make([]Certificate, 0, len(certs))
	for _, agg := range certs {
		sort.Strings(agg.sources)
		c := Certificate{
			Thumbprint: agg.thumb,
			Cert:       agg.cert,
			Source:     agg.sources[0],
			Sources:    agg.sources,
		}
		rec := keys[agg.keyID]
		switch {
		case rec != nil && rec.usableSrc != "":
			c.HasPrivateKey, c.Key, c.KeySource = true, KeyUsable, rec.usableSrc
		case rec != nil && rec.brokenSrc != "":
			c.HasPrivateKey, c.Key, c.KeySource = true, KeyUnusable, rec.brokenSrc
			c.KeyDetail = fmt.Sprintf("private key in %s matches the public key but cannot be used: %v", rec.brokenSrc, rec.brokenErr)
		case agg.claim != nil:
			c.HasPrivateKey, c.Key, c.KeySource = true, KeyUnusable, agg.claim.src
			c.KeyDetail = agg.claim.detail
		case len(opaque) > 0:
			c.Key = KeyUnknown
			c.KeyDetail = fmt.Sprintf("no matching private key among the readable files, but %d key file(s) could not be read and may hold it: %s",
				len(opaque), shortList(opaque, 3))
		default:
			c.Key = KeyAbsent
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Thumbprint < out[j].Thumbprint })
	return out, problems
}

// sortProblems orders problems by source, keeping file order within one
// source.
func sortProblems(ps []Problem) {
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Source < ps[j].Source })
}
