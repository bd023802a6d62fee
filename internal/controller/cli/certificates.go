package cli

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/config"
	"github.com/mxprobe/mxprobe/internal/text"
)

// certificatesCmd prints the fleet certificate inventory (GET
// /v1/certificates), one line per certificate, soonest expiry first; --csv
// for a spreadsheet.
func certificatesCmd(stdout io.Writer) *cobra.Command {
	c := &cobra.Command{
		Use:   "certificates",
		Short: "List every certificate in the fleet (scanned stores and presented in probes), soonest expiry first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := flagQuery(cmd, "site", "host", "expiring-within")
			if v := q.Get("expiring_within"); v != "" {
				within, err := config.ParseDuration(v)
				if err != nil {
					return fmt.Errorf("--expiring-within: %w", err)
				}
				q.Set("expiring_within", strconv.FormatInt(int64(within/time.Second), 10)+"s")
			}
			var resp mxv1.ListCertificatesResponse
			if err := getJSON(cmd, "/v1/certificates", q, &resp); err != nil {
				return err
			}
			header := []string{"NOT AFTER", "THUMBPRINT", "SUBJECT", "ISSUER", "KEY", "FINDINGS", "INSTALLED ON"}
			var rows [][]string
			for _, id := range resp.GetIdentities() {
				for _, c := range id.GetCertificates() {
					notAfter := "-"
					if c.GetNotAfter() != nil {
						notAfter = c.GetNotAfter().AsTime().UTC().Format(time.RFC3339)
					}
					key := "ok"
					if c.GetMissingPrivateKey() {
						key = "MISSING"
					}
					where := installedOn(c.GetInstallations())
					rows = append(rows, []string{notAfter, c.GetThumbprint(), c.GetSubject(), c.GetIssuer(), key, strings.Join(c.GetCodes(), ","), strings.Join(where, ", ")})
				}
			}
			if asCSV, _ := cmd.Flags().GetBool("csv"); asCSV {
				w := csv.NewWriter(stdout)
				_ = w.Write(header)
				_ = w.WriteAll(rows)
				return w.Error()
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, strings.Join(header, "\t"))
			for _, r := range rows {
				fmt.Fprintln(tw, strings.Join(r, "\t"))
			}
			return tw.Flush()
		},
	}
	c.Flags().String("site", "", "only installations in this site")
	c.Flags().String("host", "", "only installations on this host")
	c.Flags().String("expiring-within", "", "only certificates expiring within this duration (e.g. 30d or 720h), expired ones included")
	c.Flags().Bool("csv", false, "print CSV (RFC 4180) for a spreadsheet")
	return c
}

// installedOn lists where a certificate is, each place once: the hosts whose
// store holds it, then the endpoints presenting it with how many agents
// saw that (several agents probing one endpoint are one place).
func installedOn(ins []*mxv1.CertificateInstallation) []string {
	var where []string
	seen := map[string]bool{}
	presented := map[string]int{}
	var endpoints []string
	for _, in := range ins {
		if in.GetOrigin() == "presented" {
			if presented[in.GetEndpoint()] == 0 {
				endpoints = append(endpoints, in.GetEndpoint())
			}
			presented[in.GetEndpoint()]++
			continue
		}
		if h := in.GetHost(); !seen[h] {
			seen[h] = true
			where = append(where, h)
		}
	}
	for _, e := range endpoints {
		w := e + " (presented"
		if n := presented[e]; n > 1 {
			w += ", seen by " + text.Count(n, "agent")
		}
		where = append(where, w+")")
	}
	return where
}
