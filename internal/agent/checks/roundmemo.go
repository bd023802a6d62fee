package checks

import (
	"context"
	"sync"

	"github.com/mxprobe/mxprobe/internal/certstore"
	"github.com/mxprobe/mxprobe/internal/exchange"
)

// A round's checks share what they read from the host: RunAll gives them a
// context carrying a roundMemo, and the Exchange configuration (a
// PowerShell session with the Exchange snap-in when collected live, seconds
// of the server's CPU) and each certificate store are read once per round
// however many checks use them (store, connectors, protocol logs, client
// certificate, mail domain), concurrent callers waiting for the first. The
// next round reads afresh: nothing is cached across rounds, so a change is
// seen in the next round as before. What is shared is read-only to the
// checks.
type roundMemo struct {
	mu      sync.Mutex
	entries map[memoKey]*memoEntry
}

type memoKey struct{ kind, name string }

type memoEntry struct {
	once sync.Once
	v    any
	err  error
}

type roundMemoKey struct{}

// withRoundMemo returns ctx carrying a fresh memo for one round.
func withRoundMemo(ctx context.Context) context.Context {
	return context.WithValue(ctx, roundMemoKey{}, &roundMemo{entries: map[memoKey]*memoEntry{}})
}

// memoized calls load once per key in ctx's round (every call when ctx
// carries no memo) and returns its result to every caller.
func memoized[T any](ctx context.Context, k memoKey, load func() (T, error)) (T, error) {
	m, _ := ctx.Value(roundMemoKey{}).(*roundMemo)
	if m == nil {
		return load()
	}
	m.mu.Lock()
	e := m.entries[k]
	if e == nil {
		e = &memoEntry{}
		m.entries[k] = e
	}
	m.mu.Unlock()
	e.once.Do(func() { e.v, e.err = load() })
	v, _ := e.v.(T)
	return v, e.err
}

// readStore reads a certificate store once per round.
func readStore(ctx context.Context, uri string, st certstore.Store) (certstore.Contents, error) {
	return memoized(ctx, memoKey{"store", uri}, func() (certstore.Contents, error) { return st.Read(ctx) })
}

// loadExchangeConfig reads the Exchange configuration once per round.
func loadExchangeConfig(ctx context.Context, source string, load func() (*exchange.Config, error)) (*exchange.Config, error) {
	return memoized(ctx, memoKey{"exchange", source}, load)
}
