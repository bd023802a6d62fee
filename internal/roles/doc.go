// Package roles holds no code: its test keeps each binary to its role. The
// controller links no agent code (checks, runner, probes) and no lab (the
// deliberately broken servers); the agent links no controller code.
package roles
