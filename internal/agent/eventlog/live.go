package eventlog

import (
	"fmt"
	"strings"
	"time"
)

// Live reads the local Event Log (Windows; elsewhere Read returns
// ErrUnavailable).
type Live struct{}

func (Live) Name() string { return "eventlog:local" }

// StructuredQuery is the wevtapi query Live runs: the Exchange transport
// events from Application and the Schannel events from System, newer than
// since (zero: all).
func StructuredQuery(since time.Time) string {
	ids := func(v []uint32) string {
		var parts []string
		for _, id := range v {
			parts = append(parts, fmt.Sprintf("EventID=%d", id))
		}
		return strings.Join(parts, " or ")
	}
	tc := ""
	if !since.IsZero() {
		tc = fmt.Sprintf(" and TimeCreated[@SystemTime&gt;='%s']", since.UTC().Format("2006-01-02T15:04:05.000Z"))
	}
	return fmt.Sprintf(`<QueryList><Query Id="0">`+
		`<Select Path="%s">*[System[Provider[@Name='%s' or @Name='%s'] and (%s)%s]]</Select>`+
		`<Select Path="%s">*[System[Provider[@Name='%s'] and (%s)%s]]</Select>`+
		`</Query></QueryList>`,
		ChannelApplication, ProviderTransport, ProviderFrontEndTransport, ids(ExchangeIDs), tc,
		ChannelSystem, ProviderSchannel, ids(SchannelIDs), tc)
}
