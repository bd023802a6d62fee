package diagnose

import "time"

// Options tune the rules.
type Options struct {
	// Now is the clock rules compare validity against.
	Now time.Time
	// ExpiryWarning and ExpiryError are the CERT_EXPIRING windows.
	ExpiryWarning, ExpiryError time.Duration
	// Host names the server in remediation text (default "the server").
	Host string
}

func (o Options) withDefaults() Options {
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.ExpiryWarning == 0 {
		o.ExpiryWarning = 30 * 24 * time.Hour
	}
	if o.ExpiryError == 0 {
		o.ExpiryError = 7 * 24 * time.Hour
	}
	if o.Host == "" {
		o.Host = "the server"
	}
	return o
}
