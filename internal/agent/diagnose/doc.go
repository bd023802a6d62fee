// Package diagnose turns collected evidence (certificate stores, live SMTP
// probes, and later connectors, protocol logs and queues) into findings with
// stable codes from internal/finding, exact remediation, and evidence maps.
//
// Rules are plain functions over evidence; each file holds the rules for one
// kind of evidence. Certificate rules apply alike to certificates found in a
// store and to certificates presented by a server; the evidence key "origin"
// says which ("store" or "presented").
package diagnose
