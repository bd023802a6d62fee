package eventlog

import (
	"context"
	"slices"
	"strings"
	"time"
)

// Providers and channels of the events this package reads.
const (
	ProviderTransport         = "MSExchangeTransport"
	ProviderFrontEndTransport = "MSExchangeFrontEndTransport"
	ProviderSchannel          = "Schannel"

	ChannelApplication = "Application"
	ChannelSystem      = "System"
)

// Event IDs read, with what their insertion strings hold.
const (
	IDInternalCertNotInAD    = 12012 // internal transport certificate could not be read from Active Directory
	IDInternalCertNotLoaded  = 12013 // could not load the internal transport certificate with thumbprint %1
	IDStartTLSCertNotFound   = 12014 // no certificate with domain name %1 for connector %2 (FQDN %3)
	IDInternalCertExpired    = 12015 // an internal transport certificate expired; thumbprint %1
	IDStartTLSCertExpired    = 12016 // the certificate for FQDN %1 has expired
	IDCertNotLoaded          = 12023 // could not load the certificate with thumbprint %1
	IDInternalCertEphemeral  = 12024 // could not load %1; an ephemeral self-signed certificate %2 is used
	IDSchannelNoCommonCipher = 36874 // a client's cipher suites are none the server supports
	IDSchannelAlertReceived  = 36887 // a fatal alert was received from the remote endpoint (AlertDesc)
	IDSchannelAlertGenerated = 36888 // a fatal alert was generated and sent (AlertDesc, ErrorState)
	defaultMaxEvents         = 10000
	maxDataValues            = 64
	maxDataValueLen          = 4096
)

// ExchangeIDs are the transport event IDs read from the Application log.
var ExchangeIDs = []uint32{IDInternalCertNotInAD, IDInternalCertNotLoaded, IDStartTLSCertNotFound,
	IDInternalCertExpired, IDStartTLSCertExpired, IDCertNotLoaded, IDInternalCertEphemeral}

// SchannelIDs are the Schannel event IDs read from the System log.
var SchannelIDs = []uint32{IDSchannelNoCommonCipher, IDSchannelAlertReceived, IDSchannelAlertGenerated}

// Event is one event record as the diagnosis needs it.
type Event struct {
	Provider string
	Channel  string
	ID       uint32
	Level    uint8
	Time     time.Time
	Computer string
	RecordID uint64
	// Data are the insertion strings (EventData/Data, or UserData leaves),
	// in record order; DataNames holds each one's Name attribute ("" when
	// the provider writes none, as classic providers like Exchange do).
	Data      []string
	DataNames []string
}

// Named returns the insertion string called name ("" if none).
func (e Event) Named(name string) string {
	for i, n := range e.DataNames {
		if strings.EqualFold(n, name) && i < len(e.Data) {
			return e.Data[i]
		}
	}
	return ""
}

// Arg returns the i-th insertion string (%1 is Arg(1)), "" if absent.
func (e Event) Arg(i int) string {
	if i < 1 || i > len(e.Data) {
		return ""
	}
	return e.Data[i-1]
}

// Query selects events.
type Query struct {
	// Since drops older events (zero: all).
	Since time.Time
	// Max bounds how many events a source returns (0: 10000); the newest
	// are kept.
	Max int
}

func (q Query) max() int {
	if q.Max <= 0 {
		return defaultMaxEvents
	}
	return q.Max
}

// Wanted reports whether e is one of the events this package reads.
func Wanted(e Event) bool {
	switch {
	case strings.EqualFold(e.Provider, ProviderTransport), strings.EqualFold(e.Provider, ProviderFrontEndTransport):
		return slices.Contains(ExchangeIDs, e.ID)
	case strings.EqualFold(e.Provider, ProviderSchannel):
		return slices.Contains(SchannelIDs, e.ID)
	}
	return false
}

// Result is what a source read.
type Result struct {
	Events []Event
	// Scanned counts records examined (wanted or not); Skipped counts
	// records that could not be decoded; Truncated is set when more
	// wanted events matched than Query.Max allowed (the oldest were dropped).
	Scanned, Skipped int
	Truncated        bool
}

// Source reads events.
type Source interface {
	// Name describes the source for check targets and errors.
	Name() string
	// Read returns the wanted events matching q, oldest first.
	Read(ctx context.Context, q Query) (Result, error)
}

// collector applies Query while a source streams events.
type collector struct {
	q   Query
	res Result
}

func (c *collector) add(e Event) {
	c.res.Scanned++
	if !Wanted(e) || (!c.q.Since.IsZero() && e.Time.Before(c.q.Since)) {
		return
	}
	c.res.Events = append(c.res.Events, e)
	if len(c.res.Events) > 2*c.q.max() {
		c.trim()
	}
}

func (c *collector) trim() {
	slices.SortStableFunc(c.res.Events, func(a, b Event) int { return a.Time.Compare(b.Time) })
	if n := len(c.res.Events) - c.q.max(); n > 0 {
		c.res.Events = slices.Delete(c.res.Events, 0, n)
		c.res.Truncated = true
	}
}

func (c *collector) result() Result {
	c.trim()
	return c.res
}

// Memory is an in-memory source (tests, and events handed over in another
// form).
type Memory struct {
	Label  string
	Events []Event
}

func (m *Memory) Name() string {
	if m.Label == "" {
		return "memory"
	}
	return m.Label
}

func (m *Memory) Read(ctx context.Context, q Query) (Result, error) {
	c := collector{q: q}
	for _, e := range m.Events {
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		c.add(e)
	}
	return c.result(), nil
}
