package renewal

import (
	"bytes"
	"errors"
	"fmt"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/certdiag"
	"github.com/mxprobe/mxprobe/internal/certstore"
	"github.com/mxprobe/mxprobe/internal/exchange"
)

// ConnectorCheck is the agent check whose result carries the inventory
// (internal/agent/checks.Connectors).
const ConnectorCheck = "exchange_connectors"

// ErrNoInventory: the result carries no inventory document (an agent older
// than the field, or a document over its bound), so the agent's report
// cannot be predicted on; certdiag.ErrNoDER is the other such reason.
var ErrNoInventory = errors.New("the agent's Exchange connector check reports no connector inventory (agent older than the pre-flight, or inventory over 256 KiB)")

// input rebuilds what the connector check ran on from its result.
func input(r *mxv1.CheckResult) (*exchange.Config, certstore.Contents, error) {
	doc := r.GetExchangeInventory()
	if len(doc) == 0 {
		return nil, certstore.Contents{}, ErrNoInventory
	}
	cfg, err := exchange.LoadConfig(bytes.NewReader(doc))
	if err != nil {
		return nil, certstore.Contents{}, fmt.Errorf("connector inventory: %w", err)
	}
	st, err := certdiag.ContentsOf(r.GetCertificates())
	if err != nil {
		return nil, certstore.Contents{}, err
	}
	return cfg, st, nil
}
