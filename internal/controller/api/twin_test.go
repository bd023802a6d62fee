package api

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/api/apitest"
	"github.com/mxprobe/mxprobe/internal/controller/auth"
	"github.com/mxprobe/mxprobe/internal/controller/cluster"
	"github.com/mxprobe/mxprobe/internal/controller/store"
	"github.com/mxprobe/mxprobe/internal/controller/store/storetest"
)

// The API's in-memory twin of a controller node: a real one-node raft
// store (storetest.Open), the real authenticator as the gRPC server's
// interceptors, ControllerService and AuthService on a real gRPC server
// (loopback), and the REST handler (grpc-gateway, SSE, body limits) calling
// that server like the node's own connection does. Only the cluster
// topology is fake (twinCluster): who leads, and where a follower forwards.

// twinBootstrap is the bootstrap (admin) token of a secure twin.
const twinBootstrap = "twin-bootstrap-token"

type twin struct {
	store *store.Store
	conn  *grpc.ClientConn // this twin's gRPC server, without credentials
	base  string           // the REST handler's http://host:port
}

type twinConfig struct {
	// secure: API tokens are checked (insecure mode otherwise).
	secure bool
	// node replaces the store as the API's Node (a follower's view).
	node func(*store.Store) Node
	// store: share another twin's store instead of opening one.
	store *store.Store
	// cluster is the topology (default: this node leads, no peers).
	cluster *twinCluster
	// storeOpts adjust the store's configuration.
	storeOpts []func(*store.Config)
	limits    BodyLimits
}

func newTwin(t *testing.T, cfg twinConfig) *twin {
	t.Helper()
	s := cfg.store
	if s == nil {
		s = storetest.Open(t, cfg.storeOpts...)
	}
	var node Node = s
	if cfg.node != nil {
		node = cfg.node(s)
	}
	if cfg.cluster == nil {
		cfg.cluster = &twinCluster{}
	}
	a := auth.New(auth.Config{Insecure: !cfg.secure, State: s.State(), BootstrapToken: twinBootstrap})
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(a.Unary), grpc.ChainStreamInterceptor(a.Stream))
	mxv1.RegisterControllerServiceServer(srv, NewService(node, cfg.cluster))
	w, _ := node.(Writer)
	mxv1.RegisterAuthServiceServer(srv, NewAuthService(w, cfg.cluster))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Stop(); <-served })
	conn := dialTwin(t, ln.Addr().String())
	ctx, cancel := context.WithCancel(context.Background())
	hc := HTTPConfig{Conn: conn, Limits: cfg.limits, EventsHeartbeat: time.Hour}
	if cfg.secure {
		hc.Authenticate = a.HTTPAuthenticated
	}
	h, err := NewHTTPHandler(ctx, hc)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(h)
	t.Cleanup(func() { cancel(); hs.Close() })
	return &twin{store: s, conn: conn, base: hs.URL}
}

func dialTwin(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// follower returns a twin that shares tw's state (as if replication were
// instant) but does not lead: reads and writes are forwarded to tw.
func (tw *twin) follower(t *testing.T, secure bool) *twin {
	return newTwin(t, twinConfig{secure: secure, store: tw.store, node: following, cluster: &twinCluster{leader: tw.conn}})
}

// following is a node's view of a store it does not lead.
func following(s *store.Store) Node { return notLeading{s} }

type notLeading struct{ *store.Store }

func (notLeading) IsLeader() bool                       { return false }
func (notLeading) ConsistentRead(context.Context) error { return store.ErrNotLeader }

// lostLeadership is a node that believed it led when a call arrived and
// whose store then refuses (leadership moved in between).
type lostLeadership struct{ *store.Store }

func (lostLeadership) ConsistentRead(context.Context) error { return store.ErrNotLeader }
func (lostLeadership) ApplyIncidentAction(context.Context, *mxv1.IncidentAction) (*mxv1.Incident, bool, error) {
	return nil, false, store.ErrNotLeader
}

// twinCluster is the topology: leader is the connection a follower forwards
// to (nil: no leader known).
type twinCluster struct{ leader *grpc.ClientConn }

var errNoLeader = errors.New("twin: no leader known")

func (c *twinCluster) ControllerClient() (mxv1.ControllerServiceClient, error) {
	if c.leader == nil {
		return nil, errNoLeader
	}
	return mxv1.NewControllerServiceClient(c.leader), nil
}

func (c *twinCluster) LeaderConn() (*grpc.ClientConn, error) {
	if c.leader == nil {
		return nil, errNoLeader
	}
	return c.leader, nil
}

func (c *twinCluster) JoinVia(context.Context, string) error { return errors.New("twin: no peers") }
func (c *twinCluster) Health() map[string]cluster.PeerHealth { return nil }
func (c *twinCluster) LeaderGRPC() (string, string)          { return "n1", "" }

// ctl is the ControllerService client of tw.
func (tw *twin) ctl() mxv1.ControllerServiceClient { return mxv1.NewControllerServiceClient(tw.conn) }

// bearer returns ctx carrying an API token for gRPC calls.
func bearer(ctx context.Context, tok string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
}

// token creates an API token on a secure twin and returns its secret.
func (tw *twin) token(t *testing.T, name, site string, scopes ...string) string {
	t.Helper()
	r, err := mxv1.NewAuthServiceClient(tw.conn).CreateToken(bearer(t.Context(), twinBootstrap),
		&mxv1.CreateTokenRequest{Kind: mxv1.TokenKind_TOKEN_KIND_API, Name: name, Site: site, Scopes: scopes})
	if err != nil {
		t.Fatal(err)
	}
	return r.GetSecret()
}

type answer struct {
	code   int
	header http.Header
	body   string
}

// do sends one REST request to tw; header holds extra headers
// ("Authorization" is given as the token alone).
func (tw *twin) do(t *testing.T, method, path string, header map[string]string, body string) answer {
	t.Helper()
	h := map[string]string{}
	for k, v := range header {
		if k == "Authorization" && v != "" {
			v = "Bearer " + v
		}
		h[k] = v
	}
	a := apitest.Do(t, method, tw.base+path, h, body)
	return answer{a.Code, a.Header, string(a.Body)}
}

var twinT0 = time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC)

// putIncident commits inc (sequence and revision 1, or the next ones) as a
// correlation round would and returns it as stored.
func (tw *twin) putIncident(t *testing.T, inc *mxv1.Incident) *mxv1.Incident {
	t.Helper()
	inc = proto.CloneOf(inc)
	inc.Sequence, inc.Revision = 1, 1
	if old := tw.store.State().Incident(inc.GetId()); old != nil {
		inc.Sequence, inc.Revision = old.GetSequence()+1, old.GetRevision()+1
	}
	res, err := tw.store.ProposeIncidents(t.Context(), &mxv1.CorrelateIncidents{Upserts: []*mxv1.Incident{inc}})
	if err != nil || res.Applied != 1 {
		t.Fatalf("put incident: %+v %v", res, err)
	}
	return tw.store.State().Incident(inc.GetId())
}

// siteIncident is an open incident of the given sites.
func siteIncident(id, fingerprint string, sites ...string) *mxv1.Incident {
	return &mxv1.Incident{Id: id, Fingerprint: fingerprint, Cause: "CERT_NO_PRIVATE_KEY", Subject: "AB12", Severity: mxv1.Severity_SEVERITY_CRITICAL,
		State: mxv1.IncidentState_INCIDENT_STATE_OPEN, Summary: "keyless duplicate certificate", Sites: sites, Agents: []string{"edge02"},
		RootCause: &mxv1.RootCause{Code: "CERT_NO_PRIVATE_KEY", Subject: "AB12", Site: sites[0]},
		FirstSeen: timestamppb.New(twinT0), OpenedAt: timestamppb.New(twinT0), UpdatedAt: timestamppb.New(twinT0), Occurrence: 1}
}

// report registers agent id in site and commits one batch of results.
func (tw *twin) report(t *testing.T, id, site string, seq uint64, results ...*mxv1.CheckResult) {
	t.Helper()
	if _, err := tw.store.Apply(t.Context(), &mxv1.Command{Kind: &mxv1.Command_RegisterAgent{RegisterAgent: &mxv1.RegisterAgent{
		Hello: &mxv1.Hello{AgentId: id, Site: site, Hostname: id + ".contoso.com"}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.store.Apply(t.Context(), &mxv1.Command{Kind: &mxv1.Command_IngestBatches{IngestBatches: &mxv1.IngestBatches{Batches: []*mxv1.AgentBatch{
		{AgentId: id, Batch: &mxv1.ResultBatch{Seq: seq, Results: results}}}}}}); err != nil {
		t.Fatal(err)
	}
}
