package diagnose

import "github.com/mxprobe/mxprobe/internal/certdiag"

// Options tune the rules; they are certdiag's, so one value configures the
// store and connector rules and the agent's rules alike.
type Options = certdiag.Options
