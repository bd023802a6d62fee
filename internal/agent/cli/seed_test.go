package cli

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mxprobe/mxprobe/internal/agent/checks/checktest"
	"github.com/mxprobe/mxprobe/internal/exchange/exchangetest"
	"github.com/mxprobe/mxprobe/internal/lab"
	"github.com/mxprobe/mxprobe/internal/tempdir"
)

type jsonRef struct {
	Code    string `json:"code"`
	Subject string `json:"subject"`
}

type linkedFinding struct {
	jsonFinding
	Explains    []jsonRef `json:"explains"`
	ExplainedBy []jsonRef `json:"explainedBy"`
}

// seedFixture writes the seed incident's evidence: the store with the
// keyless duplicate, the Edge inventory, the send protocol log with
// NoCredentials for the keyless thumbprint, and the stuck queue.
func seedFixture(t *testing.T) (seed lab.SeedStore, args []string) {
	t.Helper()
	ca, err := lab.NewCA("Contoso Issuing CA")
	if err != nil {
		t.Fatal(err)
	}
	dir := tempdir.New(t)
	seed, err = lab.WriteSeedStore(filepath.Join(dir, "store"), ca, "mail.contoso.com")
	if err != nil {
		t.Fatal(err)
	}
	inv := filepath.Join(dir, "exchange-inventory.json")
	if err := checktest.WriteConfig(inv, exchangetest.SeedConfig(seed.Good.Cert, seed.Good.Thumbprint)); err != nil {
		t.Fatal(err)
	}
	logs := filepath.Join(dir, "ProtocolLog")
	var sessions []checktest.Session
	for range 3 {
		sessions = append(sessions, checktest.Session{Connector: "Outbound to Office 365", SentThumbprint: seed.KeylessDuplicate.Thumbprint, Failure: "NoCredentials"})
	}
	if _, err := checktest.WriteFile(logs, "SmtpSend/SEND20190502-1.log", checktest.SendLog(sessions...)); err != nil {
		t.Fatal(err)
	}
	qf, err := checktest.WriteFile(dir, "queues.json", checktest.QueueJSON(`EDGE01\3`, "tenant.mail.onmicrosoft.com", 17, checktest.SeedLastError))
	if err != nil {
		t.Fatal(err)
	}
	return seed, []string{"check", "--cert-store", "pemdir:" + seed.Dir, "--exchange-inventory", inv,
		"--protocol-logs", logs, "--queue-file", qf, "--hostname", "edge01.contoso.com"}
}

// The seed case end to end: one diagnosis whose root cause is
// CERT_NO_PRIVATE_KEY on the keyless duplicate, every symptom explained by it,
// the fix naming the thumbprint, exit code 2.
func TestSeedCaseEndToEnd(t *testing.T) {
	seed, args := seedFixture(t)
	tp := seed.KeylessDuplicate.Thumbprint
	code, out, stderr := run(t, append(args, "--format", "json")...)
	if code != 2 {
		t.Fatalf("exit %d, want 2; stderr %s\n%s", code, stderr, out)
	}
	var fs []linkedFinding
	if err := json.Unmarshal([]byte(out), &fs); err != nil {
		t.Fatalf("JSON: %v\n%s", err, out)
	}
	byCode := map[string][]linkedFinding{}
	for _, f := range fs {
		byCode[f.Code] = append(byCode[f.Code], f)
		if f.Explains == nil || f.ExplainedBy == nil {
			t.Errorf("%s %s: explains/explainedBy missing from JSON", f.Code, f.Subject)
		}
	}
	var root *linkedFinding
	for i := range byCode["CERT_NO_PRIVATE_KEY"] {
		if byCode["CERT_NO_PRIVATE_KEY"][i].Subject == tp {
			root = &byCode["CERT_NO_PRIVATE_KEY"][i]
		}
	}
	if root == nil {
		t.Fatalf("no CERT_NO_PRIVATE_KEY for %s:\n%s", tp, out)
	}
	if len(root.ExplainedBy) != 0 || !strings.Contains(root.Remedy, tp) || !strings.Contains(root.Remedy, "Remove-Item") {
		t.Fatalf("root cause %+v: want no causes of its own and a fix naming %s", root, tp)
	}
	rootRef := jsonRef{"CERT_NO_PRIVATE_KEY", tp}
	for _, want := range []string{"LOG_TLS_NEGOTIATION_FAILED", "QUEUE_TLS_FAILURE", "CONNECTOR_SELECTS_KEYLESS_CERT", "CERT_DUPLICATE_IDENTITY"} {
		got := byCode[want]
		if len(got) != 1 {
			t.Fatalf("%s findings: %+v, want one", want, got)
		}
		if !slices.Contains(got[0].ExplainedBy, rootRef) {
			t.Errorf("%s %s explainedBy %v, want %v", want, got[0].Subject, got[0].ExplainedBy, rootRef)
		}
		if !slices.Contains(root.Explains, jsonRef{want, got[0].Subject}) {
			t.Errorf("root explains %v, lacks %s %s", root.Explains, want, got[0].Subject)
		}
	}
	logf := byCode["LOG_TLS_NEGOTIATION_FAILED"][0]
	if logf.Evidence["sspi_status"] != "NoCredentials" || logf.Evidence["thumbprint_sent"] != tp || logf.Evidence["count"] != "3" ||
		logf.Evidence["connector"] != "Outbound to Office 365" || logf.Evidence["remote_endpoints"] != "104.47.1.33" ||
		logf.Evidence["first_seen"] == "" || logf.Evidence["last_seen"] == "" {
		t.Errorf("LOG_TLS_NEGOTIATION_FAILED evidence %v", logf.Evidence)
	}
	q := byCode["QUEUE_TLS_FAILURE"][0]
	if q.Evidence["next_hop"] != "tenant.mail.onmicrosoft.com" || q.Evidence["message_count"] != "17" || !strings.Contains(q.Evidence["last_error"], "421 4.4.1") {
		t.Errorf("QUEUE_TLS_FAILURE evidence %v", q.Evidence)
	}
	if sel := byCode["CONNECTOR_SELECTS_KEYLESS_CERT"][0].Evidence; !strings.Contains(sel["keyless_thumbprints"], tp) || sel["selected_thumbprint"] == "" {
		t.Errorf("connector evidence %v", sel)
	}
	// Every finding that has a cause is explained by this one root only.
	for _, f := range fs {
		for _, r := range f.ExplainedBy {
			if len(fs) > 0 && r.Code != "CERT_NO_PRIVATE_KEY" && !slices.Contains(root.Explains, r) {
				t.Errorf("%s %s explained by %v, outside the seed diagnosis", f.Code, f.Subject, r)
			}
		}
	}

	// The table puts the root cause first with its symptoms under it.
	code, table, _ := run(t, args...)
	if code != 2 {
		t.Fatalf("table exit %d", code)
	}
	head := "## root cause 1: CRITICAL CERT_NO_PRIVATE_KEY " + tp
	i := strings.Index(table, head)
	if i < 0 || strings.Contains(table, "## root cause 2") || !strings.Contains(table, ": 1 root cause explaining ") {
		t.Fatalf("table lacks exactly one diagnosis %q:\n%s", head, table)
	}
	block := table[i:]
	if j := strings.Index(block, "\n## other"); j > 0 {
		block = block[:j]
	}
	for _, want := range []string{"explains:", "      ERROR", "LOG_TLS_NEGOTIATION_FAILED", "QUEUE_TLS_FAILURE", "CONNECTOR_SELECTS_KEYLESS_CERT", "fix: "} {
		if !strings.Contains(block, want) {
			t.Errorf("diagnosis block lacks %q:\n%s", want, block)
		}
	}
}
