// Package doctest holds tests of what README.md and docs/ tell a reader to
// run: scripts/test.sh's contract, and every command line of the
// documentation's shell and PowerShell blocks parsed by the real binaries
// (subcommands and flags exist and accept the values shown; scripts and
// packages named exist). The commands that can run on one machine run for
// real in internal/e2e: the demo, controller dev with the README's agent, the
// client commands against them. It has no code of its own.
package doctest
