// Package roles holds no code: its test keeps each binary to its role. The
// controller links no agent code (checks, runner, probes) and no lab (the
// deliberately broken servers); the agent links no controller code; and the
// packages both roles share (the certificate and Exchange models, the
// certificate and connector rules, the renewal pre-flight, ...) import
// neither, so what the controller predicts is what the agent runs, without
// the controller linking the agent's collectors.
package roles
