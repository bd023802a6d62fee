// Package diagnose turns the evidence the agent collects (certificate
// stores, live SMTP probes, Exchange connectors, protocol logs, queues,
// events, DNS) into findings with stable codes from internal/finding, exact
// remediation, and evidence maps. The rules over a store and the connector
// configuration alone are internal/certdiag's (the controller's fleet
// pre-flight runs them too); the agent calls them there, so each finding
// code's condition has one owner. This package holds the rules for the
// evidence only the agent has.
//
// Rules are plain functions over evidence; each file holds the rules for one
// kind of evidence.
//
// Link (rootcause.go) ties symptoms to causes across all of a round's check
// results, filling Finding.explains / explained_by; Diagnoses groups linked
// findings under their root causes for display.
package diagnose
