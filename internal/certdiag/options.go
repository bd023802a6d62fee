package certdiag

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

// WithDefaults fills in the zero fields: now, 30 and 7 days, "the server".
func (o Options) WithDefaults() Options {
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
