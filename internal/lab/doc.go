// Package lab provides mxprobe's test laboratory: a tiny PKI for minting
// deliberately broken certificates, SMTP servers on crypto/tls that reproduce
// the ways Exchange STARTTLS goes wrong (expired, self-signed, wrong name,
// missing intermediate, no STARTTLS, legacy TLS, client-certificate demands,
// weak keys) plus hostile peers (silent, endless, drip-feeding, garbage TLS),
// and a writer for the seed incident's certificate store.
//
// Everything listens on loopback only and is meant for tests and demos; the
// servers never relay or accept mail. A Server owns all of its goroutines and
// Close waits for them.
package lab
