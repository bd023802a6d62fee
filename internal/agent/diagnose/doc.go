// Package diagnose turns collected evidence (certificate stores, live SMTP
// probes, Exchange connectors, protocol logs and queues) into findings with
// stable codes from internal/finding, exact remediation, and evidence maps.
//
// Rules are plain functions over evidence; each file holds the rules for one
// kind of evidence. Certificate rules apply alike to certificates found in a
// store and to certificates presented by a server; the evidence key "origin"
// says which ("store" or "presented").
//
// Link (rootcause.go) ties symptoms to causes across all of a round's check
// results, filling Finding.explains / explained_by; Diagnoses groups linked
// findings under their root causes for display.
package diagnose
