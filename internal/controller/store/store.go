package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// Sentinel errors callers branch on.
var (
	// ErrNotLeader: this node cannot accept writes; retry on the leader.
	ErrNotLeader = errors.New("store: not the leader")
	// ErrClosed: the store has been shut down.
	ErrClosed = errors.New("store: closed")
	// ErrBadConfig: the configuration cannot work (e.g. advertise 0.0.0.0).
	ErrBadConfig = errors.New("store: bad configuration")
)

// Config configures one raft node.
type Config struct {
	NodeID  string
	DataDir string
	// RaftBind is the address the raft transport listens on.
	RaftBind string
	// RaftAdvertise is the address peers use; defaults to RaftBind. It must be routable.
	RaftAdvertise string
	// Bootstrap forms a new single-voter cluster if the data directory holds no state.
	Bootstrap bool
	// SnapshotThreshold is the number of log entries between snapshots.
	SnapshotThreshold uint64
	// SnapshotRetain is how many snapshots to keep on disk.
	SnapshotRetain int
	// Logger receives structured logs; raft's own logs are forwarded into it.
	Logger *slog.Logger
	// Now is the clock for proposed_at timestamps (tests may fix it).
	Now func() time.Time
	// raft timing overrides (zero: raft defaults); useful for tests.
	HeartbeatTimeout, ElectionTimeout, LeaderLeaseTimeout time.Duration
	// TLS, when set, makes the raft transport mutual TLS.
	TLS *TLS
	// Transport replaces the network transport (in-process tests use
	// raft.NewInmemTransport); RaftBind is then only a label.
	Transport raft.Transport
	// InmemStore keeps log and snapshots in memory (tests only).
	InmemStore bool
	// MaxIncidentEvents bounds the incident change feed (0:
	// DefaultMaxIncidentEvents). Compaction is replicated state: every node
	// of a cluster must use the same value, so only tests set it.
	MaxIncidentEvents int
	// TLSRPTExpireAfter is this node's TLS-RPT expiry when it leads
	// (tlsrpt.ExpireAfter of tlsrpt.stale_grace; 0: tlsrpt.DefaultExpireAfter).
	// The commands carry it, so replicas agree whatever their own setting.
	TLSRPTExpireAfter time.Duration
	// TLSRPTAgeEvery is how often the leader looks for TLS-RPT results to
	// age (0: a minute; tests shorten it).
	TLSRPTAgeEvery time.Duration
}

// Store is one controller's raft node and replicated state.
type Store struct {
	cfg       Config
	raft      *raft.Raft
	state     *State
	logs      raft.LogStore
	stable    raft.StableStore
	snaps     raft.SnapshotStore
	closers   []func() error
	transport raft.Transport
	log       *slog.Logger
	leader    *leaderWatch
	proposed  proposals
	compact   *compactor
	closing   chan struct{} // closed when Close starts: proposals waiting on raft return ErrClosed
	closeOnce sync.Once

	// incidentEnc writes correlation rounds' raft entries (leader), and
	// deltaWords is scratch space for their deltas.
	incidentEnc incidentEncoder
	deltaWords  wordBufs
}

// Open starts the raft node in cfg.DataDir, creating it if needed.
func Open(cfg Config) (*Store, error) {
	if cfg.NodeID == "" || cfg.DataDir == "" || cfg.RaftBind == "" {
		return nil, fmt.Errorf("%w: node id, data dir and raft bind address are required", ErrBadConfig)
	}
	if cfg.RaftAdvertise == "" {
		cfg.RaftAdvertise = cfg.RaftBind
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SnapshotThreshold == 0 {
		cfg.SnapshotThreshold = 8192
	}
	if cfg.SnapshotRetain == 0 {
		cfg.SnapshotRetain = 2
	}
	adv, err := checkAdvertise(cfg.RaftAdvertise)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("store: data dir: %w", err)
	}
	log := cfg.Logger.With("node", cfg.NodeID)
	hlog := hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Info, Output: &slogWriter{log: log.With("component", "raft")}, DisableTime: true})

	s := &Store{cfg: cfg, log: log, state: newState(), closing: make(chan struct{})}
	if cfg.MaxIncidentEvents > 0 {
		s.state.events.max = cfg.MaxIncidentEvents
	}
	if err := s.openStorage(hlog); err != nil {
		return nil, err
	}
	if cfg.Transport != nil {
		s.transport = cfg.Transport
	} else {
		nt, err := newNetworkTransport(cfg.RaftBind, adv, cfg.TLS, hlog)
		if err != nil {
			s.closeAll()
			return nil, fmt.Errorf("store: raft transport on %s: %w", cfg.RaftBind, err)
		}
		s.transport = nt
		s.closers = append(s.closers, nt.Close)
	}

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.Logger = hlog
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	// A group commit is several entries proposed back to back
	// (ApplyIngestEntries): with a buffered apply channel the leader takes
	// them together, one log append and fsync for all, instead of one each
	// as it happens to wake. A proposal's timeout then bounds only its
	// wait for a place in the buffer; callers wait on their context.
	rc.BatchApplyCh = true
	if cfg.HeartbeatTimeout > 0 {
		rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	}
	if cfg.ElectionTimeout > 0 {
		rc.ElectionTimeout = cfg.ElectionTimeout
	}
	if cfg.LeaderLeaseTimeout > 0 {
		rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	}
	s.leader = newLeaderWatch()
	rc.NotifyCh = s.leader.notify
	s.leader.add(s.ageTLSReportsWhileLeading)

	s.compact = newCompactor()
	r, err := raft.NewRaft(rc, &fsm{state: s.state, log: log, proposed: &s.proposed, restored: s.compact.request}, s.logs, s.stable, s.snaps, s.transport)
	if err != nil {
		s.closeAll()
		return nil, fmt.Errorf("store: start raft: %w", err)
	}
	s.raft = r
	s.leader.start(r, log)
	s.compact.start(r, log)

	if cfg.Bootstrap {
		if err := s.BootstrapWith([]raft.Server{{ID: rc.LocalID, Address: s.transport.LocalAddr()}}); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// logCacheEntries is how many recent raft entries the leader keeps decoded
// for replication (see openStorage).
const logCacheEntries = 64

func (s *Store) openStorage(hlog hclog.Logger) error {
	if s.cfg.InmemStore {
		m := raft.NewInmemStore()
		s.logs, s.stable, s.snaps = m, m, raft.NewInmemSnapshotStore()
		return nil
	}
	ls, err := openLogStore(s.cfg.DataDir, hlog)
	if err != nil {
		return err
	}
	s.closers = append(s.closers, ls.close)
	s.log.Debug("raft log store", "kind", ls.kind)
	snaps, err := raft.NewFileSnapshotStoreWithLogger(s.cfg.DataDir, s.cfg.SnapshotRetain, hlog)
	if err != nil {
		s.closeAll()
		return fmt.Errorf("store: open snapshot store: %w", err)
	}
	// Replication to followers reads the entries just appended; without a
	// cache each read is a log store lookup plus a decode (~10% of the
	// leader's CPU under full ingest in mxbench). A group commit is up to
	// about 17 ingest entries of at most IngestEntryBytes each (a single
	// larger batch aside), so 64 hold a group with room to spare and the
	// cache stays around 16 MiB.
	logs, err := raft.NewLogCache(logCacheEntries, ls.logs)
	if err != nil {
		s.closeAll()
		return fmt.Errorf("store: log cache: %w", err)
	}
	s.logs, s.stable, s.snaps = logs, ls.stable, snaps
	return nil
}

// HasState reports whether this node has raft state (it is or was in a cluster).
func (s *Store) HasState() (bool, error) {
	return raft.HasExistingState(s.logs, s.stable, s.snaps)
}

// BootstrapWith forms a new cluster with these voters, unless this node
// already has raft state (then it does nothing: never re-bootstrap). Every
// server of a new cluster may call it with the same configuration.
func (s *Store) BootstrapWith(servers []raft.Server) error {
	has, err := s.HasState()
	if err != nil {
		return fmt.Errorf("store: inspect existing state: %w", err)
	}
	if has {
		return nil
	}
	f := s.raft.BootstrapCluster(raft.Configuration{Servers: servers})
	if err := f.Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
		return fmt.Errorf("store: bootstrap: %w", err)
	}
	ids := make([]string, len(servers))
	for i, sv := range servers {
		ids[i] = string(sv.ID)
	}
	s.log.Info("bootstrapped new cluster", "voters", ids)
	return nil
}

func (s *Store) closeAll() error {
	var first error
	for i := len(s.closers) - 1; i >= 0; i-- {
		if err := s.closers[i](); err != nil && first == nil {
			first = err
		}
	}
	s.closers = nil
	return first
}

// State gives read access to the replicated state as applied on this node.
func (s *Store) State() *State { return s.state }

// NodeID is this node's raft server id.
func (s *Store) NodeID() string { return s.cfg.NodeID }

// IsLeader reports whether this node currently leads.
func (s *Store) IsLeader() bool { return s.raft.State() == raft.Leader }

// LeaderReady reports whether this node leads and has applied everything
// earlier leaders committed (a Barrier succeeded since it gained leadership).
func (s *Store) LeaderReady() bool { return s.IsLeader() && s.leader.ready() }

// OnLeadership registers work that runs only while this node leads: fn is
// started after the post-election Barrier and its context is cancelled the
// moment leadership is lost (fn must return then).
func (s *Store) OnLeadership(fn func(ctx context.Context)) { s.leader.add(fn) }

// Leader returns the leader's id and raft address ("" when unknown).
func (s *Store) Leader() (id, addr string) {
	a, i := s.raft.LeaderWithID()
	return string(i), string(a)
}

// WaitLeader blocks until this node knows a leader, or ctx ends.
func (s *Store) WaitLeader(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if id, _ := s.Leader(); id != "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("store: waiting for a leader: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// Apply proposes cmd, stamped with the leader's clock, and waits until it is
// committed and applied on this node. It returns the FSM's response.
func (s *Store) Apply(ctx context.Context, cmd *mxv1.Command) (any, error) {
	cmd.ProposedAt = timestamppb.New(s.cfg.Now())
	b, err := encodeCommand(cmd)
	if err != nil {
		return nil, err
	}
	return s.propose(ctx, cmd, b)
}

// IngestEntryBytes is the most the EncodedBatch.Size of one IngestBatches
// entry's batches should add up to (a batch larger than this is an entry
// of its own). Followers receive entries through hashicorp/raft's network
// transport, whose go-msgpack decoder makes an entry's byte slice at most
// 256 KiB long and then grows it 256 KiB at a time, copying all of it at
// every step: an append RPC carrying one 4 MiB entry allocates 35 MB and
// costs 19-21 ms of CPU, sender and receiver together, against 4.5 MB and
// 6.3-6.5 ms as seventeen entries of 250 KiB (BenchmarkTransportDecode).
// An entry's few header bytes fit in the margin.
const IngestEntryBytes = 256<<10 - 256

// ApplyIngestEntries proposes one IngestBatches command per element of
// entries, in order and without waiting in between (raft appends and
// replicates them together: one fsync and one append RPC may carry
// several), then waits until each is applied here. errs[i] is entry i's
// outcome, nil when it was committed and applied.
//
// The entries succeed or fail one by one (a leader can lose its office
// after some of them): a caller that needs two batches to commit in order
// puts them into the same entry.
func (s *Store) ApplyIngestEntries(ctx context.Context, entries [][]EncodedBatch) []error {
	errs := make([]error, len(entries))
	at := timestamppb.New(s.cfg.Now())
	futures := make([]raft.ApplyFuture, len(entries))
	forget := make([]func(), len(entries))
	timeout := s.applyTimeout(ctx)
	for i, batches := range entries {
		cmd, b, err := encodeIngest(at, batches)
		if err != nil {
			errs[i] = err
			continue
		}
		forget[i] = s.proposed.add(b, cmd)
		futures[i] = s.raft.Apply(b, timeout)
	}
	for i, f := range futures {
		if f == nil {
			continue
		}
		errs[i] = s.applyError(awaitFuture(ctx, s.closing, f))
		forget[i]()
	}
	return errs
}

// applyTimeout bounds a proposal's wait to enter raft: ctx's deadline, else
// 10 s.
func (s *Store) applyTimeout(ctx context.Context) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		return time.Until(dl)
	}
	return 10 * time.Second
}

// propose replicates b, the encoding of cmd, and waits until it is applied
// here.
func (s *Store) propose(ctx context.Context, cmd *mxv1.Command, b []byte) (any, error) {
	forget := s.proposed.add(b, cmd)
	f := s.raft.Apply(b, s.applyTimeout(ctx))
	err := s.applyError(awaitFuture(ctx, s.closing, f))
	forget()
	if err != nil {
		return nil, err
	}
	return f.Response(), nil
}

// applyError maps raft's answer to a proposal to the store's errors.
func (s *Store) applyError(err error) error {
	if err != nil {
		switch {
		case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost):
			// ErrLeadershipLost: the entry may still commit; callers retry
			// idempotently (agent id + sequence).
			return fmt.Errorf("%w: %v", ErrNotLeader, err)
		case errors.Is(err, raft.ErrRaftShutdown), errors.Is(err, ErrClosed):
			return ErrClosed
		}
		return fmt.Errorf("store: apply: %w", err)
	}
	return nil
}

// Status describes this node's raft state.
type Status struct {
	NodeID, State, LeaderID, LeaderAddress string
	Term, CommitIndex, AppliedIndex        uint64
	LastLogIndex, LeaderChanges            uint64
	Peers                                  []Peer
}

// Peer is one server of the raft configuration.
type Peer struct{ ID, Address, Suffrage string }

// Status reads raft's view of the cluster.
func (s *Store) Status() (Status, error) {
	st := Status{NodeID: s.cfg.NodeID, State: lowerState(s.raft.State())}
	st.LeaderID, st.LeaderAddress = s.Leader()
	stats := s.raft.Stats()
	fmt.Sscan(stats["term"], &st.Term)
	st.CommitIndex = s.raft.CommitIndex()
	st.AppliedIndex = s.raft.AppliedIndex()
	st.LastLogIndex = s.raft.LastIndex()
	st.LeaderChanges = s.leader.leaderChanges()
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return st, fmt.Errorf("store: configuration: %w", err)
	}
	for _, srv := range f.Configuration().Servers {
		st.Peers = append(st.Peers, Peer{ID: string(srv.ID), Address: string(srv.Address), Suffrage: lowerSuffrage(srv.Suffrage)})
	}
	return st, nil
}

// Snapshot forces a raft snapshot now (used by tests and backups).
func (s *Store) Snapshot() error {
	if err := s.raft.Snapshot().Error(); err != nil {
		return fmt.Errorf("store: snapshot: %w", err)
	}
	return nil
}

// Close shuts raft down and closes the transport and log store. It does not
// hand leadership over: call TransferLeadership first for a graceful stop.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { close(s.closing) })
	s.compact.close()
	err := s.raft.Shutdown().Error()
	s.leader.stop()
	if cerr := s.closeAll(); err == nil {
		err = cerr
	}
	return err
}

func lowerState(st raft.RaftState) string {
	switch st {
	case raft.Leader:
		return "leader"
	case raft.Follower:
		return "follower"
	case raft.Candidate:
		return "candidate"
	default:
		return "shutdown"
	}
}

func lowerSuffrage(s raft.ServerSuffrage) string {
	switch s {
	case raft.Voter:
		return "voter"
	case raft.Nonvoter:
		return "nonvoter"
	default:
		return "staging"
	}
}
