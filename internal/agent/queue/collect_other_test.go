//go:build !windows

package queue

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mxprobe/mxprobe/internal/agent/powershell"
)

func TestCollectQueuesUnsupported(t *testing.T) {
	_, err := CollectQueues(context.Background(), powershell.Options{})
	if !errors.Is(err, powershell.ErrUnsupported) || !strings.Contains(err.Error(), "--queue-file FILE") {
		t.Errorf("err = %v, want ErrUnsupported naming --queue-file FILE", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := CollectQueues(ctx, powershell.Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled ctx: err = %v", err)
	}
}
