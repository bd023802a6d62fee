// Package checks runs the agent's checks: each Check reads or probes one
// target and returns a CheckResult with findings. One file per kind of check;
// adding a check is one file and one case in Build.
package checks
