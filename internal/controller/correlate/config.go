package correlate

import (
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// Config tunes the engine; zero fields take the defaults below.
type Config struct {
	// OpenAfterObservations: a candidate opens once it was seen in this many
	// newly committed results (default 2).
	OpenAfterObservations int
	// OpenAfter: ... or once it has persisted this long (default 5m).
	OpenAfter time.Duration
	// ResolveAfterClean: an open incident resolves after this many
	// consecutive clean observations (default 2).
	ResolveAfterClean int
	// ReopenWindow: a resolved incident whose findings come back within this
	// window reopens as the same incident (default 24h).
	ReopenWindow time.Duration
	// SilentAfter: an agent not heard from for this long is silent (default 3m).
	SilentAfter time.Duration
	// Retention: resolved incidents are dropped after this (default 7 days).
	Retention time.Duration
	// MaxMembers bounds the members stored per incident (default 200).
	MaxMembers int
	// MinSeverity: findings below it are ignored (default WARNING).
	MinSeverity mxv1.Severity
}

// WithDefaults fills zero fields.
func (c Config) WithDefaults() Config {
	if c.OpenAfterObservations <= 0 {
		c.OpenAfterObservations = 2
	}
	if c.OpenAfter <= 0 {
		c.OpenAfter = 5 * time.Minute
	}
	if c.ResolveAfterClean <= 0 {
		c.ResolveAfterClean = 2
	}
	if c.ReopenWindow <= 0 {
		c.ReopenWindow = 24 * time.Hour
	}
	if c.SilentAfter <= 0 {
		c.SilentAfter = 3 * time.Minute
	}
	if c.Retention <= 0 {
		c.Retention = 7 * 24 * time.Hour
	}
	if c.MaxMembers <= 0 {
		c.MaxMembers = 200
	}
	if c.MinSeverity == mxv1.Severity_SEVERITY_UNSPECIFIED {
		c.MinSeverity = mxv1.Severity_SEVERITY_WARNING
	}
	return c
}
