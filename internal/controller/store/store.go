package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
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
}

// Store is one controller's raft node and replicated state.
type Store struct {
	cfg       Config
	raft      *raft.Raft
	state     *State
	logs      *raftboltdb.BoltStore
	transport *raft.NetworkTransport
	log       *slog.Logger
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
	adv, err := net.ResolveTCPAddr("tcp", cfg.RaftAdvertise)
	if err != nil {
		return nil, fmt.Errorf("%w: raft advertise address %q: %v", ErrBadConfig, cfg.RaftAdvertise, err)
	}
	if adv.IP == nil || adv.IP.IsUnspecified() {
		return nil, fmt.Errorf("%w: raft advertise address %q is not routable (set raft.advertise)", ErrBadConfig, cfg.RaftAdvertise)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("store: data dir: %w", err)
	}
	log := cfg.Logger.With("node", cfg.NodeID)
	hlog := hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Info, Output: &slogWriter{log: log.With("component", "raft")}, DisableTime: true})

	boltPath := filepath.Join(cfg.DataDir, "raft.db")
	_, statErr := os.Stat(boltPath)
	fresh := errors.Is(statErr, os.ErrNotExist)
	logs, err := raftboltdb.NewBoltStore(boltPath)
	if err != nil {
		return nil, fmt.Errorf("store: open log store: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.DataDir, cfg.SnapshotRetain, hlog)
	if err != nil {
		logs.Close()
		return nil, fmt.Errorf("store: open snapshot store: %w", err)
	}
	transport, err := raft.NewTCPTransportWithLogger(cfg.RaftBind, adv, 3, 10*time.Second, hlog)
	if err != nil {
		logs.Close()
		return nil, fmt.Errorf("store: raft transport on %s: %w", cfg.RaftBind, err)
	}

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.Logger = hlog
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	if cfg.HeartbeatTimeout > 0 {
		rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	}
	if cfg.ElectionTimeout > 0 {
		rc.ElectionTimeout = cfg.ElectionTimeout
	}
	if cfg.LeaderLeaseTimeout > 0 {
		rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	}

	st := newState()
	r, err := raft.NewRaft(rc, &fsm{state: st, log: log}, logs, logs, snaps, transport)
	if err != nil {
		transport.Close()
		logs.Close()
		return nil, fmt.Errorf("store: start raft: %w", err)
	}
	s := &Store{cfg: cfg, raft: r, state: st, logs: logs, transport: transport, log: log}

	if cfg.Bootstrap {
		has, err := raft.HasExistingState(logs, logs, snaps)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("store: inspect existing state: %w", err)
		}
		if !has {
			f := r.BootstrapCluster(raft.Configuration{Servers: []raft.Server{{ID: rc.LocalID, Address: transport.LocalAddr()}}})
			if err := f.Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
				s.Close()
				return nil, fmt.Errorf("store: bootstrap: %w", err)
			}
			log.Info("bootstrapped new cluster", "address", transport.LocalAddr(), "fresh_data_dir", fresh)
		}
	}
	return s, nil
}

// State gives read access to the replicated state as applied on this node.
func (s *Store) State() *State { return s.state }

// NodeID is this node's raft server id.
func (s *Store) NodeID() string { return s.cfg.NodeID }

// IsLeader reports whether this node currently leads.
func (s *Store) IsLeader() bool { return s.raft.State() == raft.Leader }

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
	timeout := 10 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	f := s.raft.Apply(b, timeout)
	if err := f.Error(); err != nil {
		switch {
		case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost):
			// ErrLeadershipLost: the entry may still commit; callers retry
			// idempotently (agent id + sequence).
			return nil, fmt.Errorf("%w: %v", ErrNotLeader, err)
		case errors.Is(err, raft.ErrRaftShutdown):
			return nil, ErrClosed
		}
		return nil, fmt.Errorf("store: apply: %w", err)
	}
	return f.Response(), nil
}

// Status describes this node's raft state.
type Status struct {
	NodeID, State, LeaderID, LeaderAddress string
	Term, CommitIndex, AppliedIndex        uint64
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
	fmt.Sscan(stats["commit_index"], &st.CommitIndex)
	st.AppliedIndex = s.raft.AppliedIndex()
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

// Close shuts raft down and closes the log store.
func (s *Store) Close() error {
	err := s.raft.Shutdown().Error()
	if cerr := s.transport.Close(); err == nil {
		err = cerr
	}
	if cerr := s.logs.Close(); err == nil {
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
