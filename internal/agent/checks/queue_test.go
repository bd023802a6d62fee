package checks

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/checks/checktest"
	"github.com/mxprobe/mxprobe/internal/agent/powershell"
	"github.com/mxprobe/mxprobe/internal/agent/queue"
	"github.com/mxprobe/mxprobe/internal/finding"
)

// The collected JSON goes through the same parser and rules as a file.
func TestQueueCollectFeedsParser(t *testing.T) {
	var gotOpts powershell.Options
	c := &Queue{File: CollectQueues, Collect: powershell.Options{PowerShell: "ps.exe"},
		collect: func(ctx context.Context, o powershell.Options) ([]byte, error) {
			gotOpts = o
			return checktest.QueueJSON(`EDGE01\3`, "tenant.mail.onmicrosoft.com", 17, checktest.SeedLastError), nil
		}}
	if c.Target() != "collect" || c.Name() != "queue" {
		t.Errorf("name/target = %s %s", c.Name(), c.Target())
	}
	fs, err := c.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if gotOpts.PowerShell != "ps.exe" {
		t.Errorf("options not passed: %+v", gotOpts)
	}
	if len(fs) != 1 || fs[0].Code != string(finding.QueueTLSFailure) || fs[0].Subject != `EDGE01\3` {
		t.Fatalf("findings = %v", fs)
	}
}

func TestQueueCollectErrors(t *testing.T) {
	boom := &Queue{File: CollectQueues, collect: func(context.Context, powershell.Options) ([]byte, error) {
		return nil, errors.Join(powershell.ErrCollectorFailed, errors.New("no Exchange Management Shell snap-in"))
	}}
	if _, err := boom.Run(context.Background()); !errors.Is(err, powershell.ErrCollectorFailed) || !strings.Contains(err.Error(), "snap-in") {
		t.Errorf("collector failure: err = %v", err)
	}
	junk := &Queue{File: CollectQueues, collect: func(context.Context, powershell.Options) ([]byte, error) {
		return []byte(`"hello"`), nil
	}}
	if _, err := junk.Run(context.Background()); !errors.Is(err, queue.ErrNotJSON) {
		t.Errorf("junk payload: err = %v", err)
	}
}

// queue_file = "collect" through the builder: on Linux the check fails with
// a message saying collection needs Windows and what to do instead.
func TestQueueCollectUnsupportedOffWindows(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("collects for real on Windows")
	}
	res := runSpec(t, Spec{QueueFile: CollectQueues})
	if len(res) != 1 || res[0].Check != "queue" || res[0].Status != mxv1.CheckStatus_CHECK_STATUS_ERROR {
		t.Fatalf("results = %v", res)
	}
	for _, frag := range []string{"collectors run only on Windows", runtime.GOOS, "--queue-file FILE"} {
		if !strings.Contains(res[0].Error, frag) {
			t.Errorf("error %q lacks %q", res[0].Error, frag)
		}
	}
	if _, err := (&Queue{File: CollectQueues}).Run(context.Background()); !errors.Is(err, powershell.ErrUnsupported) {
		t.Errorf("err = %v, want powershell.ErrUnsupported", err)
	}
}
