//go:build !windows

package exchange

import (
	"context"
	"errors"
	"testing"
)

func TestCollectUnsupported(t *testing.T) {
	_, err := Collect(context.Background(), CollectOptions{})
	if !errors.Is(err, ErrUnsupported) {
		t.Errorf("err = %v, want ErrUnsupported", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Collect(ctx, CollectOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled ctx: err = %v", err)
	}
}
