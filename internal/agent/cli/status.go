package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mxprobe/mxprobe/internal/agent/enroll"
	"github.com/mxprobe/mxprobe/internal/agent/spool"
	"github.com/mxprobe/mxprobe/internal/config"
	"github.com/mxprobe/mxprobe/internal/identity"
)

// statusReport is `agent status --format json`.
type statusReport struct {
	StateDir string `json:"stateDir"`
	Identity *struct {
		AgentID  string    `json:"agentId"`
		Site     string    `json:"site"`
		NotAfter time.Time `json:"notAfter"`
	} `json:"identity,omitempty"`
	Enrolled bool `json:"enrolled"`
	Spool    struct {
		LastSeq         uint64 `json:"lastSeq"`
		AcknowledgedSeq uint64 `json:"acknowledgedSeq"`
		HeldBatches     int    `json:"heldBatches"`
		FirstHeldSeq    uint64 `json:"firstHeldSeq,omitempty"`
		HeldBytes       int64  `json:"heldBytes"`
		DiskBytes       int64  `json:"diskBytes"`
		Segments        int    `json:"segments"`
		DamagedRegions  uint64 `json:"damagedRegions"`
	} `json:"spool"`
	Loss struct {
		Batches     uint64     `json:"batches"`
		DroppedFull uint64     `json:"droppedFull"`
		WriteFailed uint64     `json:"writeFailed"`
		Corrupt     uint64     `json:"corrupt"`
		Results     uint64     `json:"results"`
		Since       *time.Time `json:"since,omitempty"`
		Last        *time.Time `json:"last,omitempty"`
		Reported    uint64     `json:"reportedToController"`
		Unresolved  uint64     `json:"unresolved"`
	} `json:"loss"`
}

// statusCmd is `agent status`: what the spool holds and what the
// controller acknowledged, read from state_dir without changing anything,
// so it can run next to a running agent.
func statusCmd(stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the agent's identity, its spool's acknowledged watermark and what was lost (read-only)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := formatOf(cmd)
			if err != nil {
				return err
			}
			c, err := loadAgentConfig(cmd)
			if err != nil {
				return err
			}
			rep, err := readStatus(c.StateDir)
			if err != nil {
				return err
			}
			if format == "json" {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			return writeStatus(stdout, rep)
		},
	}
	cmd.Flags().String("config", "", "YAML configuration file")
	addFormatFlag(cmd)
	config.AddFlags(cmd.Flags(), config.AgentStatusKeys())
	return cmd
}

func readStatus(stateDir string) (*statusReport, error) {
	rep := &statusReport{StateDir: stateDir}
	switch crt, err := enroll.ReadCertificate(stateDir); {
	case err == nil:
		id, ierr := identity.Of(crt)
		if ierr != nil {
			return nil, fmt.Errorf("certificate in %s: %w", stateDir, ierr)
		}
		rep.Enrolled = true
		rep.Identity = &struct {
			AgentID  string    `json:"agentId"`
			Site     string    `json:"site"`
			NotAfter time.Time `json:"notAfter"`
		}{id.AgentID, id.Site, crt.NotAfter.UTC()}
	case !errors.Is(err, enroll.ErrNotEnrolled):
		return nil, err
	}
	sp, err := spool.Inspect(filepath.Join(stateDir, "spool"), spool.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, fmt.Errorf("no spool in %s (has agent run started here?): %w", stateDir, err)
	}
	st, l := sp.Stats(), sp.Loss()
	rep.Spool.LastSeq, rep.Spool.AcknowledgedSeq = st.LastSeq, st.Floor
	rep.Spool.HeldBatches, rep.Spool.FirstHeldSeq, rep.Spool.HeldBytes = st.Batches, st.FirstSeq, st.Bytes
	rep.Spool.DiskBytes, rep.Spool.Segments, rep.Spool.DamagedRegions = st.DiskBytes, st.Segments, st.Corrupt
	rep.Loss.Batches, rep.Loss.DroppedFull, rep.Loss.WriteFailed, rep.Loss.Corrupt = l.Batches(), l.DroppedFull, l.WriteFailed, l.Corrupt
	rep.Loss.Results, rep.Loss.Reported, rep.Loss.Unresolved = l.Results, l.Reported, l.Unresolved
	if !l.Since.IsZero() {
		since, last := l.Since.UTC(), l.Last.UTC()
		rep.Loss.Since, rep.Loss.Last = &since, &last
	}
	return rep, nil
}

func writeStatus(w io.Writer, r *statusReport) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "state dir:\t%s\n", r.StateDir)
	if r.Identity != nil {
		fmt.Fprintf(tw, "identity:\t%s in site %s (certificate valid until %s)\n", r.Identity.AgentID, r.Identity.Site, r.Identity.NotAfter.Format(time.RFC3339))
	} else {
		fmt.Fprintf(tw, "identity:\tnot enrolled\n")
	}
	fmt.Fprintf(tw, "last seq:\t%d\n", r.Spool.LastSeq)
	fmt.Fprintf(tw, "acknowledged:\tthrough seq %d\n", r.Spool.AcknowledgedSeq)
	if r.Spool.HeldBatches > 0 {
		fmt.Fprintf(tw, "waiting:\t%d batches (seq %d-%d), %d bytes\n", r.Spool.HeldBatches, r.Spool.FirstHeldSeq, r.Spool.LastSeq, r.Spool.HeldBytes)
	} else {
		fmt.Fprintf(tw, "waiting:\tnone\n")
	}
	fmt.Fprintf(tw, "spool files:\t%d segments, %d bytes on disk, %d damaged regions\n", r.Spool.Segments, r.Spool.DiskBytes, r.Spool.DamagedRegions)
	if r.Loss.Batches == 0 {
		fmt.Fprintf(tw, "lost:\tnothing\n")
	} else {
		fmt.Fprintf(tw, "lost:\t%d batches (%d spool full, %d not stored, %d damaged), %d results, since %s, last %s\n",
			r.Loss.Batches, r.Loss.DroppedFull, r.Loss.WriteFailed, r.Loss.Corrupt, r.Loss.Results,
			r.Loss.Since.Format(time.RFC3339), r.Loss.Last.Format(time.RFC3339))
		fmt.Fprintf(tw, "reported:\t%d of them acknowledged by the controller\n", r.Loss.Reported)
	}
	if r.Loss.Unresolved > 0 {
		fmt.Fprintf(tw, "unresolved:\t%d sequence numbers missing; settled when a controller answers\n", r.Loss.Unresolved)
	}
	return tw.Flush()
}
