package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/stream"
)

// sim is one simulated agent stream.
type sim struct {
	id     string
	stream mxv1.AgentService_ConnectClient
	seq    uint64
	// sent is the highest sequence handed to the stream (the receiver
	// checks acks against it).
	sent atomic.Uint64
	// tmpl is the encoding of the tmplResults results every batch
	// carries (built once, a certificate listing of tmplCerts included).
	tmpl                   []byte
	tmplResults, tmplCerts int
}

// Fleet is a set of simulated agents connected to one controller.
type Fleet struct {
	cancel context.CancelFunc
	conns  []*grpc.ClientConn
	sims   []*sim
	// Certs, when set, makes each batch's first result a certificate store
	// scan listing this many certificates (real agents send ~10-50).
	Certs int
}

// Connect opens n agent streams (Hello + Welcome) to node i, spread over
// conns connections. On a secure cluster every agent has its own
// certificate and therefore its own connection, whatever conns says.
func (c *Cluster) Connect(ctx context.Context, i, n, conns int, prefix string) (*Fleet, error) {
	ctx, cancel := context.WithCancel(ctx)
	f := &Fleet{cancel: cancel}
	creds := insecure.NewCredentials()
	if c.sec != nil {
		conns = n
	}
	for j := range conns {
		if c.sec != nil {
			cfg, err := c.sec.AgentTLS(agentID(prefix, j), "bench")
			if err != nil {
				f.Close()
				return nil, err
			}
			creds = credentials.NewTLS(cfg)
		}
		// The agent's own connection options (keepalive, fixed receive
		// windows): the controller sees the frames real agents send.
		conn, err := grpc.NewClient(c.GRPC[i], append(stream.ConnOptions(), grpc.WithTransportCredentials(creds))...)
		if err != nil {
			f.Close()
			return nil, err
		}
		f.conns = append(f.conns, conn)
	}
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	f.sims = make([]*sim, n)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			s, err := hello(ctx, f.conns[i%len(f.conns)], agentID(prefix, i))
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			f.sims[i] = s
		}()
	}
	wg.Wait()
	if firstErr != nil {
		f.Close()
		return nil, firstErr
	}
	return f, nil
}

func agentID(prefix string, i int) string { return fmt.Sprintf("%s-%05d", prefix, i) }

func hello(ctx context.Context, conn *grpc.ClientConn, id string) (*sim, error) {
	st, err := mxv1.NewAgentServiceClient(conn).Connect(ctx, grpc.ForceCodecV2(newSimCodec()))
	if err != nil {
		return nil, err
	}
	if err := st.Send(&mxv1.ConnectRequest{Msg: &mxv1.ConnectRequest_Hello{Hello: &mxv1.Hello{AgentId: id, Site: "bench", Hostname: hostOf(id)}}}); err != nil {
		return nil, err
	}
	m, err := st.Recv()
	if err != nil {
		return nil, err
	}
	if m.GetWelcome() == nil {
		return nil, fmt.Errorf("bench: %s: no Welcome: %v", id, m)
	}
	return &sim{id: id, stream: st, seq: m.GetWelcome().GetLastCommittedSeq()}, nil
}

// Close ends every stream and connection.
func (f *Fleet) Close() {
	for _, s := range f.sims {
		if s != nil {
			_ = s.stream.CloseSend()
		}
	}
	f.cancel()
	for _, c := range f.conns {
		_ = c.Close()
	}
}

func batch(seq uint64, results, certs int) *mxv1.ResultBatch {
	b := &mxv1.ResultBatch{Seq: seq}
	for i := range results {
		b.Results = append(b.Results, &mxv1.CheckResult{
			Check: "smtp_probe", Target: fmt.Sprintf("smtp://mx%02d.contoso.test:25", i), Status: mxv1.CheckStatus_CHECK_STATUS_OK,
			Findings: []*mxv1.Finding{{Code: "CERT_EXPIRING", Severity: mxv1.Severity_SEVERITY_WARNING, Subject: "B79D1A3C6A2F0E4B8C9D0E1F2A3B4C5D6E7F8091",
				Evidence: map[string]string{"not_after": "2026-12-20T00:00:00Z", "endpoint": "mx.contoso.test:25"}}},
		})
	}
	if certs > 0 && len(b.Results) > 0 {
		// The first result is a certificate store scan with its full listing,
		// as real agents send every round.
		r := b.Results[0]
		r.Check, r.Target = "certstore", `windows:LocalMachine\My`
		nb, na := timestamppb.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)), timestamppb.New(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
		for j := range certs {
			r.Certificates = append(r.Certificates, &mxv1.CertificateSummary{
				Thumbprint: fmt.Sprintf("%040X", j), Subject: fmt.Sprintf("CN=mail%02d.contoso.com, O=Contoso, C=NL", j), Issuer: "CN=Contoso Issuing CA 01, DC=contoso, DC=com",
				Serial: fmt.Sprintf("%032X", j), NotBefore: nb, NotAfter: na, DnsNames: []string{fmt.Sprintf("mail%02d.contoso.com", j), "autodiscover.contoso.com"},
				HasPrivateKey: true, KeyStatus: "usable", Store: `windows:LocalMachine\My`, Services: []string{"SMTP"},
			})
		}
	}
	return b
}

// ErrNotLeader: the controller answered NotLeader mid-run (leadership
// moved); the measurement stops instead of waiting for acks that will not
// come.
var ErrNotLeader = errors.New("bench: controller is not the leader (leadership moved during the run)")

// drainTimeout bounds the wait for batches still in flight when a
// measurement ends.
const drainTimeout = 30 * time.Second

type sent struct {
	seq uint64
	at  time.Time
}

// run streams batches on s with up to depth unacknowledged until ctx ends,
// each send waiting for pace (nil: back to back), and hands every ack's
// latency to onAck. Acks must come in order, one per batch. After ctx ends
// it waits for the batches in flight (answers of a later measurement would
// otherwise be this one's). NotLeader and a closed stream end it with an
// error.
func (s *sim) run(ctx context.Context, depth, results, certs int, pace func(context.Context) bool, onAck func(time.Duration)) error {
	inflight := make(chan sent, depth)
	recvErr := make(chan error, 1)
	go func() {
		var acked uint64 // an ack covers its sequence and everything below
		for rec := range inflight {
			if rec.seq <= acked {
				onAck(time.Since(rec.at))
				continue
			}
			m, err := s.stream.Recv()
			if err == nil && m.GetNotLeader() != nil {
				err = fmt.Errorf("%w: %s answered NotLeader naming %q", ErrNotLeader, s.id, m.GetNotLeader().GetLeaderAddress())
			} else if errors.Is(err, io.EOF) {
				err = fmt.Errorf("bench: %s: the controller closed the stream (EOF) with batch %d unacknowledged", s.id, rec.seq)
			} else if err == nil && (m.GetAck().GetSeq() < rec.seq || m.GetAck().GetSeq() > s.sent.Load()) {
				err = fmt.Errorf("bench: %s: answer %v, want an ack of %d..%d", s.id, m, rec.seq, s.sent.Load())
			}
			if err != nil {
				recvErr <- err
				return
			}
			acked = m.GetAck().GetSeq()
			onAck(time.Since(rec.at))
		}
		recvErr <- nil
	}()
	var err error
	for ctx.Err() == nil && err == nil {
		if pace != nil && !pace(ctx) {
			break
		}
		s.seq++
		// The results are built and encoded once; every batch is those
		// bytes behind its own sequence (codec.go).
		if s.tmpl == nil || s.tmplResults != results || s.tmplCerts != certs {
			enc, eerr := encodeResults(batch(0, results, certs).GetResults())
			if eerr != nil {
				return eerr
			}
			s.tmpl, s.tmplResults, s.tmplCerts = enc, results, certs
		}
		b := encodeBatch(s.seq, s.tmpl)
		select {
		case inflight <- sent{seq: s.seq, at: time.Now()}:
		case err = <-recvErr:
			return err
		}
		s.sent.Store(s.seq)
		if serr := s.stream.SendMsg(b); serr != nil {
			if errors.Is(serr, io.EOF) {
				serr = fmt.Errorf("bench: %s: the controller closed the stream (EOF) on send", s.id)
			}
			err = serr
		}
	}
	close(inflight)
	t := time.NewTimer(drainTimeout)
	defer t.Stop()
	select {
	case rerr := <-recvErr:
		if err == nil {
			err = rerr
		}
	case <-t.C:
		err = fmt.Errorf("bench: %s: batches in flight not acknowledged within %s", s.id, drainTimeout)
	}
	return err
}

// each runs fn for every agent at once and returns the first error; an
// error cuts every stream (the fleet is unusable after it) so nothing
// waits for an answer that will not come.
func (f *Fleet) each(fn func(i int, s *sim) error) error {
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for i, s := range f.sims {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(i, s); err != nil {
				once.Do(func() { first = err; f.cancel() })
			}
		}()
	}
	wg.Wait()
	return first
}

// Throughput has every agent send batches back to back, depth of them in
// flight, for d; it returns results committed (acknowledged within d) per
// second.
func (f *Fleet) Throughput(ctx context.Context, d time.Duration, results, depth int) (float64, error) {
	var acked atomic.Int64
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	start := time.Now()
	end := start.Add(d)
	err := f.each(func(_ int, s *sim) error {
		return s.run(ctx, max(depth, 1), results, f.Certs, nil, func(time.Duration) {
			if time.Now().Before(end) {
				acked.Add(int64(results))
			}
		})
	})
	if err != nil {
		return 0, err
	}
	return float64(acked.Load()) / d.Seconds(), nil
}

// Latency sends a steady rate (results per second in total) spread over
// the agents for d, each agent with up to depth batches in flight, and
// returns ack latency percentiles.
func (f *Fleet) Latency(ctx context.Context, d time.Duration, rate, results, depth int) (p50, p99, maxLat time.Duration, achieved float64, err error) {
	batchesPerSec := float64(rate) / float64(results)
	perAgent := time.Duration(float64(len(f.sims)) / batchesPerSec * float64(time.Second))
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var mu sync.Mutex
	var lats []time.Duration
	start := time.Now()
	err = f.each(func(i int, s *sim) error {
		// Spread agents evenly over the period.
		next := start.Add(perAgent * time.Duration(i) / time.Duration(len(f.sims)))
		pace := func(ctx context.Context) bool {
			t := time.NewTimer(time.Until(next))
			defer t.Stop()
			select {
			case <-ctx.Done():
				return false
			case <-t.C:
			}
			next = next.Add(perAgent)
			return true
		}
		return s.run(ctx, max(depth, 1), results, f.Certs, pace, func(l time.Duration) {
			mu.Lock()
			lats = append(lats, l)
			mu.Unlock()
		})
	})
	if err != nil {
		return 0, 0, 0, 0, err
	}
	if len(lats) == 0 {
		return 0, 0, 0, 0, errors.New("bench: no acks")
	}
	sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
	pct := func(p float64) time.Duration { return lats[min(len(lats)-1, int(p*float64(len(lats))))] }
	return pct(0.50), pct(0.99), lats[len(lats)-1], float64(len(lats)*results) / time.Since(start).Seconds(), nil
}
