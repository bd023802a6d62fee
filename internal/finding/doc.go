// Package finding holds mxprobe's catalog of finding codes: the stable,
// documented names agents put on what they diagnose and the controller
// correlates. A code is never renamed or reused; docs/findings.md is generated
// from this catalog (go run ./internal/finding/cmd/gendoc) and a test keeps it fresh.
package finding
