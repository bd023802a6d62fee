package stream

import (
	"errors"
	"fmt"
	"strings"
)

// ErrHTTPPort: the address answers HTTP, not gRPC: an agent configured with
// the controller's HTTP port (REST, dashboard) instead of its gRPC port.
var ErrHTTPPort = errors.New("this is the controller's HTTP port; agents use the gRPC port (default 7400)")

// httpAnswers recognises what grpc-go reports when the server speaks HTTP
// but not gRPC: an HTTP/1.1 answer to the HTTP/2 preface (plain HTTP), or
// an HTTP/2 answer that is not gRPC (HTTPS with h2, e.g. the REST gateway
// answering 404 text/plain).
var httpAnswers = []string{
	"frame header looked like an HTTP/1.1 header",
	"transport: received unexpected content-type",
	"malformed header: missing HTTP content-type",
}

// wrongPort wraps err with ErrHTTPPort when it shows that addr answers HTTP
// instead of gRPC; otherwise it returns err unchanged.
func wrongPort(addr string, err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, s := range httpAnswers {
		if strings.Contains(msg, s) {
			return fmt.Errorf("stream: %s answers HTTP, not gRPC: %w (check --controllers / MXPROBE_CONTROLLERS): %v", addr, ErrHTTPPort, err)
		}
	}
	return err
}
