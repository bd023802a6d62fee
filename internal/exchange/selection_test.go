package exchange

import (
	"reflect"
	"strings"
	"testing"

	"github.com/mxprobe/mxprobe/internal/certstore"
)

var testOpts = SelectOptions{Now: testNow}

func wantFlags(t *testing.T, s Selection, want ...string) {
	t.Helper()
	got := s.Flags.Names()
	if !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
		t.Errorf("%s %q flags = %v, want %v\nselection: %+v", s.Kind, s.Connector, got, want, s)
	}
}

// seedStore reproduces the seed incident: two certificates with the same
// issuer and subject, the first enumerated one without a private key, plus
// the Edge server's self-signed certificate.
func seedStore(t *testing.T, keylessExpiresLater bool) (store []certstore.Certificate, keyless, good string) {
	ca := newTestCA(t, digicertG2)
	goodNA, keylessNA := t2026, t2026
	if keylessExpiresLater {
		keylessNA = t2026.AddDate(0, 1, 0)
	} else {
		goodNA = t2026.AddDate(0, 1, 0)
	}
	k := issue(t, ca, contoso, []string{"mail.contoso.com", "autodiscover.contoso.com"}, t2025, keylessNA)
	g := issue(t, ca, contoso, []string{"mail.contoso.com", "autodiscover.contoso.com"}, t2025, goodNA)
	self := issue(t, nil, name("EDGE01", "", ""), []string{"EDGE01", "edge01.contoso.com"}, t2024, t2027)
	return []certstore.Certificate{
		entry(k, certstore.KeyAbsent),
		entry(g, certstore.KeyUsable),
		entry(self, certstore.KeyUsable),
	}, thumbOf(k), thumbOf(g)
}

const seedTLSName = "<I>" + digicertG2DN + "<S>" + contosoDN

func TestSeedCaseSendConnector(t *testing.T) {
	store, keyless, good := seedStore(t, true)
	conn := SendConnector{Name: "Outbound to Office 365", Enabled: true, TlsCertificateName: seedTLSName,
		RequireTLS: true, TlsAuthLevel: TLSAuthDomainValidation, TlsDomain: "mail.protection.outlook.com",
		AddressSpaces: []AddressSpace{{Type: "SMTP", Address: "contoso.mail.onmicrosoft.com", Cost: 1}}}
	s := SelectSend(conn, "edge01.contoso.com", store, testOpts)

	if s.Basis != BasisTLSName || s.Rule != RuleFirstMatch {
		t.Errorf("basis/rule = %s/%s", s.Basis, s.Rule)
	}
	if s.Selected != keyless {
		t.Errorf("selected %s, want the keyless %s", s.Selected, keyless)
	}
	if got := s.CandidateThumbprints(); !reflect.DeepEqual(got, []string{keyless, good}) {
		t.Errorf("candidates = %v", got)
	}
	wantRules := []RuleChoice{{RuleFirstMatch, keyless}, {RuleLatestExpiring, keyless}}
	if !reflect.DeepEqual(s.ByRule, wantRules) {
		t.Errorf("ByRule = %v, want %v", s.ByRule, wantRules)
	}
	wantFlags(t, s, "Ambiguous", "SelectedKeyless")
	if s.Issuer != digicertG2DN || s.Subject != contosoDN {
		t.Errorf("issuer/subject = %q / %q", s.Issuer, s.Subject)
	}
}

func TestSeedCaseRulesDisagree(t *testing.T) {
	store, keyless, good := seedStore(t, false)
	conn := SendConnector{Name: "Outbound to Office 365", Enabled: true, TlsCertificateName: seedTLSName}
	s := SelectSend(conn, "", store, testOpts)
	if s.Selected != keyless {
		t.Errorf("FirstMatch selected %s, want %s", s.Selected, keyless)
	}
	if want := []RuleChoice{{RuleFirstMatch, keyless}, {RuleLatestExpiring, good}}; !reflect.DeepEqual(s.ByRule, want) {
		t.Errorf("ByRule = %v, want %v", s.ByRule, want)
	}
	wantFlags(t, s, "Ambiguous", "RulesDisagree", "SelectedKeyless")
}

// The receive side filters on the key: inbound worked in the seed incident.
func TestSeedCaseReceiveConnector(t *testing.T) {
	store, keyless, good := seedStore(t, true)
	conn := ReceiveConnector{Name: "Default internal receive connector EDGE01", Enabled: true,
		TlsCertificateName: seedTLSName, Bindings: []string{"0.0.0.0:25"}}
	s := SelectReceive(conn, "edge01.contoso.com", store, testOpts)
	if s.Selected != good {
		t.Errorf("selected %s, want the keyed %s", s.Selected, good)
	}
	if s.Rule != RuleNewestCAIssued {
		t.Errorf("rule = %s", s.Rule)
	}
	wantFlags(t, s, "Ambiguous")
	if c := s.Candidates[0]; c.Thumbprint != keyless || c.Eligible || c.Ineligible != IneligibleKey || c.Key != KeyMissing {
		t.Errorf("keyless candidate = %+v", c)
	}
}

// Catalog D: renewal kept the old certificate; both have keys.
func TestRenewalKeptOldCertificate(t *testing.T) {
	ca := newTestCA(t, leR3)
	old := issue(t, ca, name("mail.contoso.com", "", ""), []string{"mail.contoso.com"}, t2024, t2025.AddDate(0, 3, 0))
	renewed := issue(t, ca, name("mail.contoso.com", "", ""), []string{"mail.contoso.com"}, t2025.AddDate(0, 2, 0), t2026)
	store := []certstore.Certificate{entry(old, certstore.KeyUsable), entry(renewed, certstore.KeyUsable)}
	conn := SendConnector{Name: "Outbound to Office 365", Enabled: true,
		TlsCertificateName: "<I>CN=R3, O=Let's Encrypt, C=US<S>CN=mail.contoso.com"}

	s := SelectSend(conn, "", store, SelectOptions{Now: t2025.AddDate(0, 2, 15)})
	if s.Selected != thumbOf(old) {
		t.Errorf("selected %s, want old %s", s.Selected, thumbOf(old))
	}
	wantFlags(t, s, "Ambiguous", "RulesDisagree")
	if s.ByRule[1].Thumbprint != thumbOf(renewed) {
		t.Errorf("latest-expiring = %s", s.ByRule[1].Thumbprint)
	}

	// Once the old one expires, first-match still picks it.
	s = SelectSend(conn, "", store, SelectOptions{Now: t2025.AddDate(0, 4, 0)})
	wantFlags(t, s, "Ambiguous", "RulesDisagree", "SelectedExpired")
}

// Catalog C: TlsCertificateName points at nothing (renewed through R10).
func TestTLSNameNotFound(t *testing.T) {
	r10 := newTestCA(t, leR10)
	renewed := issue(t, r10, name("mail.contoso.com", "", ""), []string{"mail.contoso.com"}, t2025, t2026)
	store := []certstore.Certificate{entry(renewed, certstore.KeyUsable)}
	conn := SendConnector{Name: "Outbound to Office 365", Enabled: true,
		TlsCertificateName: "<I>CN=R3, O=Let's Encrypt, C=US<S>CN=mail.contoso.com"}
	s := SelectSend(conn, "", store, testOpts)
	wantFlags(t, s, "NotFound")
	if s.Selected != "" || len(s.Candidates) != 0 {
		t.Errorf("selected %q, candidates %v", s.Selected, s.Candidates)
	}
	if !reflect.DeepEqual(s.SubjectOnlyMatches, []string{thumbOf(renewed)}) {
		t.Errorf("SubjectOnlyMatches = %v", s.SubjectOnlyMatches)
	}

	// Same on a receive connector: STARTTLS not advertised.
	r := SelectReceive(ReceiveConnector{Name: "Inbound from Office 365", Enabled: true, TlsCertificateName: conn.TlsCertificateName}, "", store, testOpts)
	wantFlags(t, r, "NotFound", "StartTLSNotAdvertised")
}

func TestTLSNameInvalid(t *testing.T) {
	store, _, _ := seedStore(t, true)
	s := SelectSend(SendConnector{Name: "typo", Enabled: true, TlsCertificateName: "CN=mail.contoso.com"}, "", store, testOpts)
	wantFlags(t, s, "NotFound", "NameInvalid")
	if s.NameError == "" {
		t.Error("NameError empty")
	}
	r := SelectReceive(ReceiveConnector{Name: "typo", Enabled: true, TlsCertificateName: "<S>" + contosoDN + "<I>" + digicertG2DN}, "", store, testOpts)
	wantFlags(t, r, "NotFound", "NameInvalid", "StartTLSNotAdvertised")
}

// Catalog E/H: receive connector without TlsCertificateName on an Edge where
// only the self-signed certificate names the FQDN (the CA cert that does is keyless).
func TestEdgeReceiveFallsBackToSelfSigned(t *testing.T) {
	ca := newTestCA(t, digicertG2)
	public := issue(t, ca, contoso, []string{"mail.contoso.com"}, t2025, t2026)
	keylessEdge := issue(t, ca, name("edge01.contoso.com", "", ""), []string{"edge01.contoso.com"}, t2025, t2026)
	self := issue(t, nil, name("EDGE01", "", ""), []string{"EDGE01", "edge01.contoso.com"}, t2024, t2027)
	store := []certstore.Certificate{
		entry(public, certstore.KeyUsable),
		entry(keylessEdge, certstore.KeyAbsent),
		entry(self, certstore.KeyUsable),
	}
	inv := &Config{
		Server: Server{Name: "EDGE01", Fqdn: "edge01.contoso.com", ServerRole: "Edge"},
		ReceiveConnectors: []ReceiveConnector{{
			Name: "Default internal receive connector EDGE01", Server: "EDGE01", Enabled: true,
			Bindings: []string{"0.0.0.0:25", "[::]:25"}, Fqdn: "edge01.contoso.com",
			AuthMechanism: []string{"Tls", "ExchangeServer"}, TransportRole: "HubTransport",
		}},
	}
	sels, err := SimulateSelection(inv, store, testOpts)
	if err != nil {
		t.Fatal(err)
	}
	if len(sels) != 1 {
		t.Fatalf("got %d selections", len(sels))
	}
	s := sels[0]
	if s.Selected != thumbOf(self) || s.Rule != RuleNewestSelfSigned || s.Basis != BasisFqdn {
		t.Errorf("selected %s by %s (%s)", s.Selected, s.Rule, s.Basis)
	}
	wantFlags(t, s, "NoTLSCertName", "FellBackToSelfSigned")
	if len(s.Candidates) != 2 || s.Candidates[0].Eligible {
		t.Errorf("candidates = %+v", s.Candidates)
	}

	issues, err := EvaluatePosture(inv)
	if err != nil {
		t.Fatal(err)
	}
	if len(issues) != 1 || issues[0].Condition != PostureNoTLSCertName || issues[0].Certain || issues[0].Reach != ReachLikely {
		t.Errorf("posture = %+v", issues)
	}

	// Without Fqdn the server FQDN is used.
	inv.ReceiveConnectors[0].Fqdn = ""
	s = SelectReceive(inv.ReceiveConnectors[0], inv.Server.Fqdn, store, testOpts)
	if s.Basis != BasisServerFqdn || s.Selected != thumbOf(self) {
		t.Errorf("server-fqdn: %s %s", s.Basis, s.Selected)
	}
}

func TestReceivePrefersCAIssuedOverNewerSelfSigned(t *testing.T) {
	ca := newTestCA(t, leR3)
	caCert := issue(t, ca, name("mail.contoso.com", "", ""), []string{"mail.contoso.com"}, t2024, t2026)
	olderCA := issue(t, ca, name("mail.contoso.com", "", ""), []string{"mail.contoso.com"}, t2024.AddDate(0, -6, 0), t2026)
	self := issue(t, nil, name("mail.contoso.com", "", ""), []string{"mail.contoso.com"}, t2025, t2027)
	store := []certstore.Certificate{entry(olderCA, certstore.KeyUsable), entry(self, certstore.KeyUsable), entry(caCert, certstore.KeyUsable)}
	s := SelectReceive(ReceiveConnector{Name: "Default Frontend EX01", Enabled: true, Fqdn: "mail.contoso.com"}, "", store, testOpts)
	if s.Selected != thumbOf(caCert) || s.Rule != RuleNewestCAIssued {
		t.Errorf("selected %s by %s, want newest CA-issued %s", s.Selected, s.Rule, thumbOf(caCert))
	}
	wantFlags(t, s, "NoTLSCertName")
}

func TestWildcard(t *testing.T) {
	ca := newTestCA(t, digicertG2)
	wild := issue(t, ca, name("*.contoso.com", "Contoso", "NL"), []string{"*.contoso.com", "contoso.com"}, t2025, t2026)
	store := []certstore.Certificate{entry(wild, certstore.KeyUsable)}

	s := SelectSend(SendConnector{Name: "Internet", Enabled: true, Fqdn: "mail.contoso.com"}, "ex01.contoso.local", store, testOpts)
	if s.Selected != thumbOf(wild) || s.Basis != BasisFqdn {
		t.Errorf("selected %q basis %s", s.Selected, s.Basis)
	}
	wantFlags(t, s, "NoTLSCertName", "WildcardMatch")

	// An exact match wins over a newer wildcard.
	exact := issue(t, ca, name("mail.contoso.com", "", ""), []string{"mail.contoso.com"}, t2024, t2026)
	store = append(store, entry(exact, certstore.KeyUsable))
	s = SelectReceive(ReceiveConnector{Name: "Default Frontend EX01", Enabled: true, Fqdn: "mail.contoso.com"}, "", store, testOpts)
	if s.Selected != thumbOf(exact) {
		t.Errorf("selected %s, want exact %s", s.Selected, thumbOf(exact))
	}
	wantFlags(t, s, "NoTLSCertName")

	// Wildcards do not cover two labels.
	s = SelectSend(SendConnector{Name: "x", Enabled: true, Fqdn: "a.mail.contoso.com"}, "", store[:1], testOpts)
	wantFlags(t, s, "NotFound", "NoTLSCertName")
}

func TestExpiredChosenCertificateStillAdvertised(t *testing.T) {
	ca := newTestCA(t, leR3)
	expired := issue(t, ca, name("mail.contoso.com", "", ""), []string{"mail.contoso.com"}, t2024, t2025)
	store := []certstore.Certificate{entry(expired, certstore.KeyUsable)}
	s := SelectReceive(ReceiveConnector{Name: "Default Frontend EX01", Enabled: true, Fqdn: "mail.contoso.com"}, "", store, testOpts)
	if s.Selected != thumbOf(expired) {
		t.Fatalf("selected %q", s.Selected)
	}
	wantFlags(t, s, "NoTLSCertName", "SelectedExpired")
}

func TestReceiveNothingEligible(t *testing.T) {
	ca := newTestCA(t, leR3)
	keyless := issue(t, ca, name("mail.contoso.com", "", ""), []string{"mail.contoso.com"}, t2025, t2026)
	unusable := issue(t, ca, name("mail.contoso.com", "", ""), []string{"mail.contoso.com"}, t2025, t2026)
	unreadable := issue(t, ca, name("mail.contoso.com", "", ""), []string{"mail.contoso.com"}, t2025, t2026)
	v1 := issue(t, ca, name("mail.contoso.com", "", ""), []string{"mail.contoso.com"}, t2025, t2026)
	v1.Version = 1 // crypto/x509 only writes v3; pretend
	no := false
	u := entry(unusable, certstore.KeyUnusable)
	u.KeyDetail = "keyset does not exist"
	r := entry(unreadable, certstore.KeyUsable)
	r.TransportCanReadKey = &no
	store := []certstore.Certificate{entry(keyless, certstore.KeyAbsent), u, r, entry(v1, certstore.KeyUsable)}

	s := SelectReceive(ReceiveConnector{Name: "Default Frontend EX01", Enabled: true, Fqdn: "mail.contoso.com"}, "", store, testOpts)
	wantFlags(t, s, "NotFound", "NoneEligible", "NoTLSCertName", "StartTLSNotAdvertised")
	want := []struct {
		why    Ineligibility
		key    KeyState
		detail string
	}{{IneligibleKey, KeyMissing, ""}, {IneligibleKey, KeyUnusable, "keyset does not exist"}, {IneligibleKey, KeyUnreadable, ""}, {IneligibleNotV3, KeyOK, ""}}
	for i, c := range s.Candidates {
		if c.Eligible || c.Ineligible != want[i].why || c.Key != want[i].key || c.KeyDetail != want[i].detail {
			t.Errorf("candidate %d = %+v, want %+v", i, c, want[i])
		}
	}
}

func TestSendSelectsUnreadableKey(t *testing.T) {
	ca := newTestCA(t, digicertG2)
	c := issue(t, ca, contoso, []string{"mail.contoso.com"}, t2025, t2026)
	no := false
	e := entry(c, certstore.KeyUsable)
	e.TransportCanReadKey = &no
	s := SelectSend(SendConnector{Name: "Outbound to Office 365", Enabled: true, TlsCertificateName: seedTLSName}, "", []certstore.Certificate{e}, testOpts)
	wantFlags(t, s, "SelectedKeyUnreadable")
}

func TestInternalTransport(t *testing.T) {
	self := issue(t, nil, name("EX01", "", ""), []string{"EX01", "ex01.contoso.local"}, t2024, t2027)
	old := issue(t, nil, name("EX01", "", ""), []string{"EX01"}, t2024.AddDate(-5, 0, 0), t2024)
	store := []certstore.Certificate{entry(self, certstore.KeyUsable), entry(old, certstore.KeyAbsent)}

	tests := []struct {
		thumb    string
		flags    []string
		selected string
	}{
		{strings.ToLower(thumbOf(self)), nil, thumbOf(self)},
		{thumbOf(old), []string{"SelectedKeyless", "SelectedExpired"}, thumbOf(old)},
		{"0123456789ABCDEF0123456789ABCDEF01234567", []string{"NotFound"}, ""},
		{"", []string{"NotFound", "NoLookupName"}, ""},
		{"not-a-thumbprint", []string{"NotFound", "ThumbprintInvalid"}, ""},
	}
	for _, tt := range tests {
		s := SelectInternalTransport(tt.thumb, store, testOpts)
		wantFlags(t, s, tt.flags...)
		if s.Selected != tt.selected {
			t.Errorf("%q: selected %q, want %q", tt.thumb, s.Selected, tt.selected)
		}
		if s.Kind != KindInternalTransport || s.Connector != InternalTransportName {
			t.Errorf("kind/name = %s/%s", s.Kind, s.Connector)
		}
		if tt.thumb == "not-a-thumbprint" && s.NameError == "" {
			t.Error("invalid thumbprint without NameError")
		}
	}
}

func TestSimulateSelectionOrderAndFilter(t *testing.T) {
	store, keyless, _ := seedStore(t, true)
	self := store[2].Thumbprint
	inv := &Config{
		Server:           Server{Name: "EDGE01", Fqdn: "edge01.contoso.com", ServerRole: "Edge"},
		TransportService: TransportService{Name: "EDGE01", InternalTransportCertificateThumbprint: self},
		SendConnectors: []SendConnector{
			{Name: "zeta", Enabled: true, SourceTransportServers: []string{"EDGE01"}},
			{Name: "Outbound to Office 365", Enabled: true, TlsCertificateName: seedTLSName, SourceTransportServers: []string{"edge02", "edge01"}},
			{Name: "disabled", Enabled: false},
			{Name: "other server", Enabled: true, SourceTransportServers: []string{"EDGE02"}},
			{Name: "Alpha", Enabled: true},
		},
		ReceiveConnectors: []ReceiveConnector{
			{Name: "Default internal receive connector EDGE01", Server: "EDGE01", Enabled: true},
			{Name: "elsewhere", Server: "EDGE02", Enabled: true},
		},
	}
	a, err := SimulateSelection(inv, store, testOpts)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range a {
		got = append(got, string(s.Kind)+":"+s.Connector)
	}
	want := []string{"send:Alpha", "send:Outbound to Office 365", "send:zeta",
		"receive:Default internal receive connector EDGE01", "internal-transport:" + InternalTransportName}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("order = %v\nwant %v", got, want)
	}
	if a[1].Selected != keyless {
		t.Errorf("seed connector selected %s", a[1].Selected)
	}
	b, _ := SimulateSelection(inv, store, testOpts)
	if !reflect.DeepEqual(a, b) {
		t.Error("SimulateSelection is not deterministic")
	}
	if _, err := SimulateSelection(nil, store, testOpts); err == nil {
		t.Error("nil inventory: want error")
	}
	// Entries without a parsed certificate are skipped, not dereferenced.
	if _, err := SimulateSelection(inv, append(store, certstore.Certificate{Thumbprint: "AB"}), testOpts); err != nil {
		t.Error(err)
	}
}

func TestNoNameToLookUp(t *testing.T) {
	s := SelectReceive(ReceiveConnector{Name: "r", Enabled: true}, "", nil, testOpts)
	wantFlags(t, s, "NotFound", "NoTLSCertName", "StartTLSNotAdvertised", "NoLookupName")
	if s.Basis != BasisNone {
		t.Errorf("basis = %q", s.Basis)
	}
}
