package protolog

import (
	"time"

	"github.com/mxprobe/mxprobe/internal/agent/protolog/loggen"
)

// genOptions controls the synthetic log generator used by tests and
// benchmarks (package loggen).
type genOptions struct {
	Direction  Direction
	Sessions   int
	Interleave int // sessions in flight at once
	Seed       uint64
	Start      time.Time
}

// genLog produces a realistic SMTP protocol log (see package loggen).
func genLog(o genOptions) []byte {
	return loggen.Generate(loggen.Options{Receive: o.Direction == DirectionReceive, Sessions: o.Sessions, Interleave: o.Interleave, Seed: o.Seed, Start: o.Start})
}

const (
	genThumbBad = loggen.ThumbBad
	genSuccess  = "TLS protocol SP_PROT_TLS1_2_CLIENT negotiation succeeded using bulk encryption algorithm CALG_AES_256 with strength 256 bits, MAC hash algorithm CALG_SHA_384 with strength 0 bits and key exchange algorithm CALG_ECDH_EPHEM with strength 384 bits"
)
