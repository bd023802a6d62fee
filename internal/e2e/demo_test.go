package e2e

import (
	"encoding/json"
	"errors"
	"net"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// incidentLineRe matches an incident of the demo report: severity, scope
// and what it is about (ids and thumbprints differ between runs).
var incidentLineRe = regexp.MustCompile(`(?m)^  \[([A-Z]+)\] ([A-Z_]+) inc-[0-9a-f]+-\d+: (\S+)`)

func demoIncidents(out string) []string {
	var got []string
	for _, m := range incidentLineRe.FindAllStringSubmatch(out, -1) {
		got = append(got, m[1]+" "+m[2]+" "+m[3])
	}
	slices.Sort(got)
	return got
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

// TestDemoOnce runs the README's main command (with free ports and --once)
// twice: it finds the seed case and prints the report once correlation has
// converged, so both runs show the same incidents, nothing still settling,
// and the seed incident tells the whole story: the keyless certificate with
// the outbound flow to Exchange Online it breaks and its symptoms.
func TestDemoOnce(t *testing.T) {
	var first []string
	for i := range 2 {
		out, err := run(t, nil, "mxdemo", "--once", "--interval", "2s",
			"--grpc-listen", freePort(t), "--http-listen", freePort(t), "--raft-listen", freePort(t))
		if err != nil {
			t.Fatalf("demo: %v\n%s", err, out)
		}
		for _, want := range []string{"CERT_NO_PRIVATE_KEY", "LOG_TLS_NEGOTIATION_FAILED", "QUEUE_TLS_FAILURE", "451 4.4.395", "421 4.4.1",
			"SMTP_STARTTLS_NOT_OFFERED", "CERT_EXPIRED", "Incidents (what to fix", "Remove-Item",
			"Renewal pre-flight on edge02", "CONNECTOR_CERT_NOT_FOUND", "[FAIL] tls-certificate-name", "Verdict: SOMETHING BREAKS",
			"The same renewal across the fleet, through the controller", "amsterdam edge02: breaks: Outbound to Office 365 (CONNECTOR_CERT_NOT_FOUND)",
			"[FAIL] hybrid-edge-identity", "Fleet verdict: SOMETHING BREAKS"} {
			if !strings.Contains(out, want) {
				t.Errorf("demo output lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "Still settling") {
			t.Errorf("run %d: report printed before correlation converged:\n%s", i, out)
		}
		seed := regexp.MustCompile(`\[CRITICAL\] SERVER inc-\S+ edge02\.amsterdam\.contoso\.test \(site amsterdam\): Certificate ([0-9A-F]{40}) .* has no private key; outbound edge02\.amsterdam\.contoso\.test -> Exchange Online fails.*\((\d+) symptoms\)`)
		if m := seed.FindStringSubmatch(out); m == nil || atoi(m[2]) < 3 {
			t.Errorf("run %d: no seed incident with the outbound flow and its symptoms:\n%s", i, out)
		}
		// The outside-in incident: the senders' TLS-RPT report agrees with
		// the agents' expired-certificate finding for the same MX, in one
		// incident, and opens none of its own.
		outsideIn := regexp.MustCompile(`\[CRITICAL\] SERVER inc-\S+ edge01\.amsterdam\.contoso\.test [^\n]*expired[^\n]*\n(?:      [^\n]*\n)*?      senders \(TLS-RPT\): Microsoft Corporation failed 412 sessions to edge01\.amsterdam\.contoso\.test [^\n]*: certificate-expired\n`)
		if !outsideIn.MatchString(out) || !strings.Contains(out, "TLS-RPT: posted a generated RFC 8460 report") || strings.Count(out, "senders (TLS-RPT)") != 1 {
			t.Errorf("run %d: the TLS-RPT report is not in the agents' expired-certificate incident for edge01 (and only there):\n%s", i, out)
		}
		got := demoIncidents(out)
		if len(got) == 0 {
			t.Fatalf("no incidents in:\n%s", out)
		}
		if i == 0 {
			first = got
		} else if !slices.Equal(first, got) {
			t.Errorf("the two runs show different incidents:\n%s\nvs\n%s", strings.Join(first, "\n"), strings.Join(got, "\n"))
		}
	}
}

// The seed incident holds the whole chain as members: the keyless
// certificate as root cause, the NoCredentials send sessions, the stuck
// queue and the connector that selects the keyless certificate.
func TestDemoSeedIncidentMembers(t *testing.T) {
	httpAddr := freePort(t)
	demo := start(t, "mxdemo", "--interval", "2s", "--grpc-listen", freePort(t), "--http-listen", httpAddr, "--raft-listen", freePort(t))
	waitFor(t, 120*time.Second, "the demo's report", func() bool { return strings.Contains(demo.output(), "Dashboard: ") })
	code, body := get("http://" + httpAddr + `/v1/incidents?filter=cause%20%3D%20%22CERT_NO_PRIVATE_KEY%22`)
	if code != 200 {
		t.Fatalf("GET incidents: %d %s", code, body)
	}
	var out struct {
		Incidents []struct {
			ID, State string
			Members   []struct {
				Role    string
				Finding struct{ Code, Subject string }
			}
		}
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if len(out.Incidents) != 1 || out.Incidents[0].State != "INCIDENT_STATE_OPEN" {
		t.Fatalf("want one open seed incident: %s", body)
	}
	roles := map[string]string{}
	for _, m := range out.Incidents[0].Members {
		roles[m.Finding.Code] = m.Role
	}
	for code, role := range map[string]string{"CERT_NO_PRIVATE_KEY": "root_cause", "LOG_TLS_NEGOTIATION_FAILED": "symptom", "QUEUE_TLS_FAILURE": "symptom", "CONNECTOR_SELECTS_KEYLESS_CERT": "symptom"} {
		if roles[code] != role {
			t.Errorf("seed incident member %s: role %q, want %q (members %v)", code, roles[code], role, roles)
		}
	}

	// The senders' report is a peer member of the agents' incident for the
	// Edge with the expired certificate.
	code, body = get("http://" + httpAddr + `/v1/incidents?filter=cause%20%3D%20%22CERT_EXPIRED%22`)
	if code != 200 {
		t.Fatalf("GET incidents: %d %s", code, body)
	}
	var expired struct {
		Incidents []struct {
			Subject, State string
			Members        []struct {
				AgentID string `json:"agentId"`
				Role    string
				Finding struct{ Code, Subject string }
			}
		}
	}
	if err := json.Unmarshal(body, &expired); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	joined := false
	for _, inc := range expired.Incidents {
		for _, m := range inc.Members {
			if m.AgentID == "tls-rpt reports" {
				joined = strings.HasPrefix(inc.Subject, "edge01.amsterdam.contoso.test") && inc.State == "INCIDENT_STATE_OPEN" &&
					m.Role == "peer" && m.Finding.Code == "TLSRPT_FAILURES" && m.Finding.Subject == "edge01.amsterdam.contoso.test:25"
			}
		}
	}
	if !joined {
		t.Errorf("no open CERT_EXPIRED incident for edge01 with the TLS-RPT report as a peer: %s", body)
	}

	// Words: counts agree with their nouns, severities are said once, and a
	// server has the same severity on the overview and the agents page.
	for _, bad := range []string{"1 symptoms", "all 1 sites", "(1 agents)", "1 findings", "CRITICAL CRITICAL", "dev DEMO"} {
		if strings.Contains(demo.output(), bad) {
			t.Errorf("demo output says %q:\n%s", bad, demo.output())
		}
	}
	csvOut, err := run(t, nil, "controller", "certificates", "--csv", "--server", httpAddr)
	if err != nil {
		t.Fatalf("certificates --csv: %v\n%s", err, csvOut)
	}
	for _, line := range strings.Split(csvOut, "\n") {
		seen := map[string]bool{}
		for _, place := range regexp.MustCompile(`[^,"]+ \(presented[^)]*\)`).FindAllString(line, -1) {
			if place = strings.TrimSpace(place); seen[place] {
				t.Errorf("certificates CSV repeats %q: %s", place, line)
			}
			seen[place] = true
		}
	}
	_, overview := get("http://" + httpAddr + "/")
	_, agentsPage := get("http://" + httpAddr + "/agents")
	tile := regexp.MustCompile(`<span class="host">([^<]+)</span> <span class="sev">([A-Z]+)</span>`)
	row := regexp.MustCompile(`href="/\?host=([^"]+)">\d+ · ([A-Z]+)</a>`)
	onAgents := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(string(agentsPage), -1) {
		onAgents[m[1]] = m[2]
	}
	compared := 0
	for _, m := range tile.FindAllStringSubmatch(string(overview), -1) {
		if sev, ok := onAgents[m[1]]; ok {
			compared++
			if sev != m[2] {
				t.Errorf("%s is %s on the overview but %s on the agents page", m[1], m[2], sev)
			}
		}
	}
	if compared == 0 {
		t.Errorf("no server found on both the overview and the agents page:\n%s\n%s", overview, agentsPage)
	}
}

// A port already in use makes the demo exit with a message naming the flag
// that moves it, for the controller's ports and the lab's.
func TestDemoPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := ln.Addr().String()
	for _, c := range []struct{ flag string }{{"grpc-listen"}, {"http-listen"}, {"raft-listen"}, {"lab-listen"}} {
		args := map[string]string{"grpc-listen": freePort(t), "http-listen": freePort(t), "raft-listen": freePort(t), "lab-listen": "127.0.0.1:0"}
		args[c.flag] = busy
		var argv []string
		for _, f := range []string{"grpc-listen", "http-listen", "raft-listen", "lab-listen"} {
			argv = append(argv, "--"+f, args[f])
		}
		out, err := run(t, nil, "mxdemo", append([]string{"--once"}, argv...)...)
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Errorf("--%s %s in use: %v\n%s", c.flag, busy, err, out)
			continue
		}
		if !strings.Contains(out, busy+" is in use") || !strings.Contains(out, "--"+c.flag) {
			t.Errorf("--%s %s in use: message does not name the address and the flag:\n%s", c.flag, busy, out)
		}
	}
}
