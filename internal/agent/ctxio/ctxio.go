// Package ctxio stops long reads when their context ends: the agent reads
// snapshot files and queue exports that may be large, and a stopped check
// must not finish reading them first.
package ctxio

import (
	"context"
	"io"
)

// Reader reads r until ctx ends; then every Read returns ctx.Err().
func Reader(ctx context.Context, r io.Reader) io.Reader { return reader{ctx, r} }

type reader struct {
	ctx context.Context
	r   io.Reader
}

func (c reader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
