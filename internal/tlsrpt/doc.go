// Package tlsrpt is SMTP TLS Reporting (RFC 8460) for mxprobe: the
// `_smtp._tls` DNS record agents check (record.go), the aggregate reports
// the controller ingests in every form senders deliver them (JSON, gzip,
// mail with the report attached; report.go, all bounded against hostile
// input), and what the reports say about each receiving MX and policy
// domain as results of a virtual agent that correlation joins with what the
// agents see (derive.go).
//
// The parser is ours because no maintained Go library parses RFC 8460
// reports; it decodes with encoding/json, compress/gzip and mime/multipart
// and only adds the RFC's field rules and bounds.
package tlsrpt
