package checks

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/exchcollect"
	"github.com/mxprobe/mxprobe/internal/certstore"
	"github.com/mxprobe/mxprobe/internal/exchange"
)

type countingStore struct {
	certstore.Store
	reads *atomic.Int32
}

func (c countingStore) Read(ctx context.Context) (certstore.Contents, error) {
	c.reads.Add(1)
	return c.Store.Read(ctx)
}

// The seed case's checks (store, connectors, protocol logs, client
// certificate) all read the certificate store and the Exchange
// configuration: a round reads each once between them, the next round
// afresh, and the results are those of reading per check.
func TestRoundReadsStoreAndExchangeOnce(t *testing.T) {
	spec := seedSpec(t)
	spec.ProbeSendConnector = "Outbound to Office 365"
	b, err := NewBuilder(spec)
	if err != nil {
		t.Fatal(err)
	}
	var reads, collections atomic.Int32
	for i := range b.stores {
		b.stores[i].Store = countingStore{b.stores[i].Store, &reads}
	}
	b.source.collect = func(context.Context) (*exchange.Config, error) {
		collections.Add(1)
		return exchcollect.LoadConfigFile(spec.ExchangeInventory)
	}
	if b.client != nil {
		b.client.Source = b.source
	}
	cs, err := b.All()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// Each check alone, as before: every user reads for itself.
	var alone []*mxv1.CheckResult
	for _, c := range cs {
		alone = append(alone, RunAll(ctx, []Check{c}, 1)...)
	}
	perCheckReads, perCheckCollections := reads.Swap(0), collections.Swap(0)
	if perCheckReads < 3 || perCheckCollections < 3 {
		t.Fatalf("the seed case's checks read the store %d and the configuration %d times alone: the case needs several users of each", perCheckReads, perCheckCollections)
	}
	for round := 1; round <= 2; round++ {
		res := RunAll(ctx, cs, 8)
		if got := reads.Swap(0); got != int32(len(b.stores)) {
			t.Errorf("round %d: %d store reads for %d stores (alone: %d)", round, got, len(b.stores), perCheckReads)
		}
		if got := collections.Swap(0); got != 1 {
			t.Errorf("round %d: %d Exchange collections (alone: %d)", round, got, perCheckCollections)
		}
		if round == 1 {
			if got, want := resultCodes(res), resultCodes(alone); !slices.Equal(got, want) {
				t.Errorf("shared reads changed the findings:\n got %v\nwant %v", got, want)
			}
		}
	}
}

func resultCodes(rs []*mxv1.CheckResult) []string {
	var out []string
	for _, r := range rs {
		for _, f := range r.GetFindings() {
			out = append(out, r.GetCheck()+"/"+f.GetCode()+"/"+f.GetSubject())
		}
	}
	slices.Sort(out)
	return out
}
