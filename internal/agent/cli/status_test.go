package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/spool"
	"github.com/mxprobe/mxprobe/internal/tempdir"
)

// dirContents is every file under dir with its bytes, to show a command
// changed nothing.
func dirContents(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		fmt.Fprintf(&b, "%s %x\n", p, data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// agent status, next to a spool that is open (as a running agent holds
// it): the acknowledged watermark, what is waiting and what the spool
// dropped, in both formats, without changing a byte of the state dir.
func TestStatusShowsSpoolWatermarkAndLossReadOnly(t *testing.T) {
	stateDir := tempdir.New(t)
	// Small enough that ten 2-result batches overflow it.
	sp, err := spool.Open(filepath.Join(stateDir, "spool"), spool.Options{MaxBytes: 1500, Sync: spool.SyncNone,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	for seq := uint64(1); seq <= 10; seq++ {
		b := &mxv1.ResultBatch{Seq: seq}
		for i := range 2 {
			b.Results = append(b.Results, &mxv1.CheckResult{Check: "smtp_probe", Target: fmt.Sprintf("smtp://mx%d.contoso.com:25", i),
				Error: strings.Repeat("x", 40)})
		}
		if err := sp.Append(b); err != nil {
			t.Fatal(err)
		}
	}
	st, loss := sp.Stats(), sp.Loss()
	if loss.DroppedFull == 0 || st.Batches < 2 {
		t.Fatalf("the test spool dropped nothing or holds under two batches: %+v %+v", st, loss)
	}
	acked := st.FirstSeq // the controller acknowledged the oldest held batch
	sp.Trim(acked)
	before := dirContents(t, stateDir)

	code, out, stderr := run(t, "status", "--state-dir", stateDir, "--format", "json")
	if code != 0 {
		t.Fatalf("status --format json: exit %d, %s", code, stderr)
	}
	var rep statusReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	held := uint64(st.Batches - 1)
	if rep.Spool.LastSeq != 10 || rep.Spool.AcknowledgedSeq != acked || uint64(rep.Spool.HeldBatches) != held || rep.Spool.FirstHeldSeq != acked+1 || rep.Spool.HeldBytes <= 0 {
		t.Fatalf("spool = %+v, want last 10, acknowledged %d, %d held from %d", rep.Spool, acked, held, acked+1)
	}
	if rep.Loss.DroppedFull != loss.DroppedFull || rep.Loss.Batches != loss.DroppedFull || rep.Loss.Results != 2*loss.DroppedFull || rep.Loss.Since == nil {
		t.Fatalf("loss = %+v, want %d dropped with %d results", rep.Loss, loss.DroppedFull, 2*loss.DroppedFull)
	}
	if rep.Enrolled || rep.Identity != nil {
		t.Fatalf("an unenrolled state dir shows an identity: %+v", rep)
	}

	code, out, stderr = run(t, "status", "--state-dir", stateDir)
	if code != 0 {
		t.Fatalf("status: exit %d, %s", code, stderr)
	}
	for _, want := range []string{
		"identity:      not enrolled",
		"last seq:      10",
		fmt.Sprintf("acknowledged:  through seq %d", acked),
		fmt.Sprintf("waiting:       %d batches (seq %d-10)", held, acked+1),
		fmt.Sprintf("lost:          %d batches (%d spool full, 0 not stored, 0 damaged), %d results", loss.DroppedFull, loss.DroppedFull, 2*loss.DroppedFull),
		"reported:      0 of them acknowledged by the controller",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if after := dirContents(t, stateDir); after != before {
		t.Fatal("agent status changed the state dir")
	}
}

// A state dir where no agent ran is an error that says so, exit 1, and
// nothing is created there.
func TestStatusWithoutSpool(t *testing.T) {
	stateDir := tempdir.New(t)
	code, _, stderr := run(t, "status", "--state-dir", stateDir)
	if code != 1 || !strings.Contains(stderr, "no spool in "+stateDir) {
		t.Fatalf("exit %d, stderr %q; want 1 and 'no spool in %s'", code, stderr, stateDir)
	}
	if des, _ := os.ReadDir(stateDir); len(des) != 0 {
		t.Fatalf("status created %v in the state dir", des)
	}
}
