// Package report prints `agent check` results for people (a table) and for
// scripts (a JSON array of findings in the proto's JSON mapping), and maps
// them to the command's exit code.
package report
