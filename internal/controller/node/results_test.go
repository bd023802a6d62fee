package node

import (
	"encoding/json"
	"net/http"
	"testing"
)

// GET /v1/results: each agent's latest result per check with since and
// history, the failing filter, paging by token, a forged token refused;
// answered by a follower too (forwarded).
func TestRESTResultsWithHistoryAndPaging(t *testing.T) {
	nodes := newCluster(t, 3, nil)
	l := leader(t, nodes)
	f := nodes[0]
	if f == l {
		f = nodes[1]
	}
	c := dial(t, l.n.GRPCAddr())
	for _, id := range []string{"edge01", "edge02", "edge03"} {
		s, _ := connect(t, c, id)
		sendBatch(t, s, 1, "CERT_NO_PRIVATE_KEY")
		if id == "edge02" {
			sendBatch(t, s, 2, "CERT_EXPIRED")
		}
	}
	type page struct {
		Results []struct {
			AgentID string `json:"agentId"`
			Since   string `json:"since"`
			History []struct {
				Status string   `json:"status"`
				Codes  []string `json:"codes"`
			} `json:"history"`
		} `json:"results"`
		Next string `json:"nextPageToken"`
	}
	get := func(query string) (int, page) {
		t.Helper()
		a := do(t, "GET", "http://"+f.n.HTTPAddr()+"/v1/results"+query, nil, "")
		var p page
		if a.code == 200 {
			if err := json.Unmarshal(a.body, &p); err != nil {
				t.Fatalf("%s: %v", a.body, err)
			}
		}
		return a.code, p
	}
	code, p := get("?failing=true&agentId=edge02")
	if code != 200 || len(p.Results) != 1 || p.Results[0].Since == "" || len(p.Results[0].History) != 2 ||
		p.Results[0].History[1].Codes[0] != "CERT_EXPIRED" || p.Results[0].History[1].Status != "CHECK_STATUS_FAIL" {
		t.Fatalf("edge02: %d %+v", code, p)
	}
	var agents []string
	tok := ""
	for range 5 {
		code, p := get("?pageSize=2&pageToken=" + tok)
		if code != 200 {
			t.Fatalf("page: %d", code)
		}
		for _, r := range p.Results {
			agents = append(agents, r.AgentID)
		}
		if tok = p.Next; tok == "" {
			break
		}
	}
	if len(agents) != 3 || agents[0] != "edge01" || agents[2] != "edge03" {
		t.Fatalf("paged agents %v", agents)
	}
	if code, _ := get("?pageToken=not-a-token"); code != http.StatusBadRequest {
		t.Fatalf("forged token: %d", code)
	}
}
