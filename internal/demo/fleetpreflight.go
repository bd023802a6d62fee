package demo

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// fleetPreflight runs the same renewal through the controller (POST
// /v1/preflight with the public certificate only, as controller preflight
// and the dashboard's Renewal page send it) on every agent's last report,
// and prints the verdict, the servers that break and the fleet rules.
func fleetPreflight(ctx context.Context, w io.Writer, httpAddr string, r renewalFiles) error {
	req := &mxv1.PreflightCertificateRequest{Certificate: r.cer, FileName: "edge02-renewal.pfx", KeySource: "pfx"}
	body, err := protojson.Marshal(req)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+httpAddr+"/v1/preflight", bytes.NewReader(body))
	if err != nil {
		return err
	}
	hr.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(hr)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 8<<20))
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("POST /v1/preflight: %s: %s", res.Status, bytes.TrimSpace(b))
	}
	var resp mxv1.PreflightCertificateResponse
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(b, &resp); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nThe same renewal across the fleet, through the controller, on every agent's last report\n(controller preflight --server http://%s --new-cert %s; dashboard http://%s/preflight with %s):\n",
		httpAddr, r.pemFile, httpAddr, r.cerFile)
	for _, a := range resp.GetAgents() {
		var broken []string
		for _, c := range a.GetConnectors() {
			if c.GetPredictedOutcome() == "breaks" {
				broken = append(broken, c.GetName()+" ("+strings.Join(c.GetCodes(), ",")+")")
			}
		}
		switch {
		case len(broken) > 0:
			fmt.Fprintf(w, "  %s %s: breaks: %s\n", a.GetSite(), a.GetAgentId(), strings.Join(broken, "; "))
		case a.GetStatus() != "predicted":
			fmt.Fprintf(w, "  %s %s: %s\n", a.GetSite(), a.GetAgentId(), a.GetStatus())
		default:
			fmt.Fprintf(w, "  %s %s: works (rollout %s)\n", a.GetSite(), a.GetAgentId(), a.GetRollout())
		}
	}
	for _, c := range resp.GetFleetChecks() {
		fmt.Fprintf(w, "  [%s] %s: %s\n", strings.ToUpper(c.GetStatus()), c.GetId(), c.GetSummary())
	}
	verdict := "nothing breaks"
	if resp.GetBreaks() {
		verdict = "SOMETHING BREAKS (controller preflight exits 2)"
	}
	_, err = fmt.Fprintf(w, "Fleet verdict: %s\n", verdict)
	return err
}
