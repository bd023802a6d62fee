//go:build !windows

package exchcollect

import (
	"context"
	"errors"
	"testing"

	"github.com/mxprobe/mxprobe/internal/agent/powershell"
)

func TestCollectUnsupported(t *testing.T) {
	_, err := Collect(context.Background(), powershell.Options{})
	if !errors.Is(err, powershell.ErrUnsupported) {
		t.Errorf("err = %v, want ErrUnsupported", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Collect(ctx, powershell.Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled ctx: err = %v", err)
	}
}
