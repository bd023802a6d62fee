package diagnose

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/agent/protolog"
)

// TestLogWindowClearsWhatTheRuleSays checks the clear index against the
// rule it implements, evaluated over every group: a successful session
// clears the groups of its direction and connector not seen after it whose
// remote scope or host is its own, and on the send side the connector's
// NoCredentials/UnknownCredentials failures. Random histories of failures
// and successes, with bounds and a save/load in the middle.
func TestLogWindowClearsWhatTheRuleSays(t *testing.T) {
	for seed := range uint64(40) {
		r := rand.New(rand.NewPCG(seed, 7))
		w := NewLogWindow(r.IntN(40)+5, 0)
		base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		conns := []string{"Outbound", "Partner", "EDGE01\\Default"}
		names := []string{"", "a.mail.protection.outlook.com", "b.mail.protection.outlook.com", "mx.fabrikam.com", "mx1.fabrikam.com"}
		hosts := []string{"10.0.0.1:25", "10.0.0.2:25", "10.0.0.3:25", "10.0.0.4:25"}
		statuses := []string{"NoCredentials", "UnknownCredentials", "SocketError", "TargetUnknown"}
		for i := range 400 {
			at := base.Add(time.Duration(r.IntN(600)) * time.Second)
			s := protolog.Session{
				ID: "S" + string(rune('A'+i%26)), Direction: protolog.Direction(1 + r.IntN(2)),
				Connector: conns[r.IntN(len(conns))], Remote: hosts[r.IntN(len(hosts))],
				RemoteName: names[r.IntN(len(names))], Start: at, End: at.Add(time.Second), EHLOSeen: true, StartTLSOffered: true,
			}
			if r.IntN(3) == 0 {
				s.TLS.Succeeded = true
			} else {
				s.TLS.Failed, s.TLS.Status = true, statuses[r.IntN(len(statuses))]
			}
			var want []LogGroup
			if s.TLS.Succeeded {
				dir, remote := s.Direction.String(), s.RemoteHost()
				scope := remoteScope(s.RemoteName, remote)
				for _, g := range w.Groups() {
					cleared := g.Direction == dir && g.Connector == s.Connector && !g.LastSeen.After(s.End) &&
						(remoteScope(firstOr(g.RemoteNames), g.RemoteHost) == scope || g.RemoteHost == remote ||
							(dir == protolog.DirectionSend.String() && g.Kind == LogKindTLSFailed && localCredentialStatus(g.Status)))
					if !cleared {
						want = append(want, g)
					}
				}
			}
			w.Add(s)
			checkClearIndex(t, w)
			if s.TLS.Succeeded {
				if got := w.Groups(); !slices.EqualFunc(got, want, groupsEqual) {
					t.Fatalf("seed %d step %d: after success %+v\n got %d groups %+v\nwant %d groups %+v", seed, i, s, len(got), got, len(want), want)
				}
			}
			if i == 200 {
				var buf bytes.Buffer
				if err := w.Save(&buf); err != nil {
					t.Fatal(err)
				}
				w2 := NewLogWindow(w.MaxGroups, 0)
				if err := w2.Load(&buf); err != nil {
					t.Fatal(err)
				}
				w = w2
			}
		}
	}
}

// checkClearIndex: every group is filed in exactly the sets clearKeys
// names for it under its scope, each set's list is consistent both ways,
// and the index holds nothing else.
func checkClearIndex(t *testing.T, w *LogWindow) {
	t.Helper()
	filed := 0
	walk := func(ck clearKey, head *groupEnt) {
		if head == nil || head.prev[ck.by] != nil {
			t.Fatalf("set %+v: bad first group", ck)
		}
		for e, prev := head, (*groupEnt)(nil); e != nil; prev, e = e, e.next[ck.by] {
			if e.prev[ck.by] != prev {
				t.Fatalf("set %+v: broken back link", ck)
			}
			ks, n := clearKeys(&e.LogGroup, e.scope)
			if int(ck.by) >= n || ks[ck.by] != ck || w.groups[e.key] != e {
				t.Fatalf("set %+v holds group %q filed as %+v (n %d)", ck, e.key, ks, n)
			}
			filed++
		}
	}
	for k, p := range w.paths {
		if p.pathKey != k {
			t.Fatalf("path %+v: key %+v", k, p.pathKey)
		}
		for v, e := range p.scopes {
			walk(clearKey{clearScope, k.dir, k.conn, v}, e)
		}
		for v, e := range p.hosts {
			walk(clearKey{clearHost, k.dir, k.conn, v}, e)
		}
		if p.cred != nil {
			walk(clearKey{clearCred, k.dir, k.conn, ""}, p.cred)
		}
	}
	for _, p := range w.recentPaths {
		if p != nil && w.paths[p.pathKey] != p {
			t.Fatalf("recent path %+v not held", p.pathKey)
		}
	}
	if len(w.paths) > max(64, w.sweepPaths) {
		t.Fatalf("%d paths, sweep at %d", len(w.paths), w.sweepPaths)
	}
	want := 0
	for _, e := range w.groups {
		if e.n == 0 || e.scope != w.remoteScope(firstOr(e.RemoteNames), e.RemoteHost) || e.path != w.paths[pathKey{e.Direction, e.Connector}] {
			t.Fatalf("group %q: n %d scope %q", e.key, e.n, e.scope)
		}
		want += e.n
	}
	if filed != want {
		t.Fatalf("index holds %d filings, groups want %d", filed, want)
	}
}

func groupsEqual(a, b LogGroup) bool {
	return a.Kind == b.Kind && a.Direction == b.Direction && a.Connector == b.Connector && a.RemoteHost == b.RemoteHost &&
		a.Status == b.Status && a.Thumbprint == b.Thumbprint && a.Count == b.Count && slices.Equal(a.RemoteNames, b.RemoteNames) &&
		a.LastSeen.Equal(b.LastSeen) && a.FirstSeen.Equal(b.FirstSeen)
}

// TestLogWindowAgePruneScansOnlyWhenNeeded: pruning by MaxAge only when
// something may have aged out keeps exactly what a scan on every session
// keeps, on random histories with sessions out of order and a save/load.
func TestLogWindowAgePruneScansOnlyWhenNeeded(t *testing.T) {
	for seed := range uint64(40) {
		r := rand.New(rand.NewPCG(seed, 11))
		maxAge := time.Duration(1+r.IntN(120)) * time.Second
		fast, ref := NewLogWindow(r.IntN(30)+5, maxAge), NewLogWindow(0, maxAge)
		ref.MaxGroups, ref.ageScanAlways = fast.MaxGroups, true
		base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		for i := range 500 {
			at := base.Add(time.Duration(i)*time.Second - time.Duration(r.IntN(200))*time.Second)
			s := protolog.Session{
				ID: fmt.Sprint("S", i), Direction: protolog.DirectionSend, Connector: fmt.Sprint("C", r.IntN(3)),
				Remote: fmt.Sprintf("10.0.0.%d:25", r.IntN(20)), Start: at, End: at,
				Certificates: []protolog.Certificate{{Role: protolog.CertRoleLocal, Thumbprint: fmt.Sprint("T", r.IntN(4))}},
			}
			if r.IntN(4) == 0 {
				s.TLS.Succeeded = true
			} else {
				s.TLS.Failed, s.TLS.Status = true, fmt.Sprint("Status", r.IntN(5))
			}
			fast.Add(s)
			ref.Add(s)
			if !slices.EqualFunc(fast.Groups(), ref.Groups(), groupsEqual) || len(fast.Sent()) != len(ref.Sent()) {
				t.Fatalf("seed %d step %d: groups %d vs %d, sent %d vs %d", seed, i, len(fast.Groups()), len(ref.Groups()), len(fast.Sent()), len(ref.Sent()))
			}
			if i == 250 {
				var buf bytes.Buffer
				if err := fast.Save(&buf); err != nil {
					t.Fatal(err)
				}
				w := NewLogWindow(fast.MaxGroups, maxAge)
				if err := w.Load(&buf); err != nil {
					t.Fatal(err)
				}
				fast = w
			}
		}
	}
}

// TestLogWindowCachesChangeNothing: a window using its caches of recent
// usages, paths and Exchange Online names holds exactly the groups and
// usages of one looking everything up, after every session of random
// histories (several directions, connectors, certificates, names; bounds,
// ages, a save/load).
func TestLogWindowCachesChangeNothing(t *testing.T) {
	for seed := range uint64(60) {
		r := rand.New(rand.NewPCG(seed, 13))
		maxGroups, maxAge := r.IntN(30)+3, time.Duration(0)
		if r.IntN(2) == 0 {
			maxAge = time.Duration(1+r.IntN(300)) * time.Second
		}
		fast, ref := NewLogWindow(maxGroups, maxAge), NewLogWindow(maxGroups, maxAge)
		ref.uncached = true
		base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		// "Out\x00x" at y and "Out" at "x\x00y" share a group key.
		conns := []string{"Outbound", "Partner", "EDGE01\\Default", "Out\x00x", "Out"}
		remotes := []string{"10.0.0.1:25", "10.0.0.2:25", "10.0.0.3:25", "y:25", "x\x00y:25"}
		names := []string{"", "a.mail.protection.outlook.com", "B.mail.protection.outlook.com.", "mx.fabrikam.com", "fabrikam.com"}
		tps := []string{"", "T1", "T2", "T3"}
		statuses := []string{"NoCredentials", "UnknownCredentials", "SocketError", "unknowncredentials"}
		for i := range 600 {
			at := base.Add(time.Duration(i)*time.Second - time.Duration(r.IntN(200))*time.Second)
			s := protolog.Session{
				ID: fmt.Sprint("S", i), Direction: protolog.Direction(1 + r.IntN(2)), Connector: conns[r.IntN(len(conns))],
				Remote: remotes[r.IntN(len(remotes))], RemoteName: names[r.IntN(len(names))], Start: at, End: at.Add(time.Duration(r.IntN(3)) * time.Second),
				EHLOSeen: true, StartTLSOffered: r.IntN(4) > 0,
			}
			if tp := tps[r.IntN(len(tps))]; tp != "" || r.IntN(2) == 0 {
				s.Certificates = []protolog.Certificate{{Role: protolog.CertRoleLocal, Thumbprint: tp, Subject: "CN=" + tp}}
			}
			switch r.IntN(4) {
			case 0:
				s.TLS.Succeeded = true
			case 1:
				s.Replies = []protolog.Reply{{Code: 454, Enhanced: "4.7.5", Text: "454 4.7.5 not found"}}
			default:
				s.TLS.Failed, s.TLS.Status = true, statuses[r.IntN(len(statuses))]
			}
			fast.Add(s)
			ref.Add(s)
			checkClearIndex(t, fast)
			gf, gr, sf, sr := fast.Groups(), ref.Groups(), fast.Sent(), ref.Sent()
			if !slices.EqualFunc(gf, gr, groupsEqual) || !slices.EqualFunc(sf, sr, func(a, b SentUsage) bool {
				return a.Direction == b.Direction && a.Connector == b.Connector && a.Thumbprint == b.Thumbprint && a.Subject == b.Subject &&
					a.Count == b.Count && a.ExchangeOnline == b.ExchangeOnline && slices.Equal(a.RemoteNames, b.RemoteNames) &&
					a.Failed == b.Failed && a.Succeeded == b.Succeeded && a.FirstSeen.Equal(b.FirstSeen) && a.LastSeen.Equal(b.LastSeen) && a.Session == b.Session
			}) {
				t.Fatalf("seed %d step %d: cached window differs:\ngroups %+v\n   ref %+v\nsent %+v\n ref %+v", seed, i, gf, gr, sf, sr)
			}
			if i == 300 {
				var buf bytes.Buffer
				if err := fast.Save(&buf); err != nil {
					t.Fatal(err)
				}
				w := NewLogWindow(maxGroups, maxAge)
				if err := w.Load(&buf); err != nil {
					t.Fatal(err)
				}
				fast = w
			}
		}
	}
}

// TestLogWindowDropsEmptyPaths: paths emptied by successes do not pile up
// over many connectors, and a path still holding a group survives a sweep.
func TestLogWindowDropsEmptyPaths(t *testing.T) {
	w := NewLogWindow(0, 0)
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	fail := func(conn string) protolog.Session {
		return protolog.Session{ID: "F", Direction: protolog.DirectionSend, Connector: conn, Remote: "10.0.0.1:25", Start: at, End: at,
			TLS: protolog.TLSOutcome{Failed: true, Status: "SocketError"}}
	}
	w.Add(fail("kept"))
	for i := range 1000 {
		s := fail(fmt.Sprint("C", i))
		w.Add(s)
		s.TLS = protolog.TLSOutcome{Succeeded: true}
		s.End = s.End.Add(time.Second)
		w.Add(s)
		checkClearIndex(t, w)
	}
	if len(w.paths) > 128 {
		t.Fatalf("%d paths held for 1 group", len(w.paths))
	}
	if g := w.Groups(); len(g) != 1 || g[0].Connector != "kept" {
		t.Fatalf("groups %+v", g)
	}
	w.Add(protolog.Session{ID: "S", Direction: protolog.DirectionSend, Connector: "kept", Remote: "10.0.0.1:25", Start: at, End: at.Add(time.Hour), TLS: protolog.TLSOutcome{Succeeded: true}})
	if w.Len() != 0 {
		t.Fatalf("kept path's group not cleared after sweeps: %+v", w.Groups())
	}
}
