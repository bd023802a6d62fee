package cli

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// The API client commands reach the controller's HTTP port.
const (
	defaultServer = "http://127.0.0.1:7401"
	serverEnv     = "MXPROBE_SERVER"
	// controllerCAEnv is the CA that signed the controllers' certificates:
	// the same name (and meaning) as the agent's controller_ca_file.
	controllerCAEnv = "MXPROBE_CONTROLLER_CA_FILE"
)

// ErrWrongPort: the address given answers, but it is not the controller's
// HTTP port.
var ErrWrongPort = errors.New("not the controller's HTTP port")

// addServerFlag registers --server on c.
func addServerFlag(c *cobra.Command) {
	c.Flags().String("server", "", "controller HTTP(S) address, host:port or URL (or "+serverEnv+"; default "+defaultServer+")")
}

// server is where a client command sends its requests and what set it.
type server struct {
	base   string // scheme://host:port, no trailing slash
	source string // "--server", "MXPROBE_SERVER" or "" (the default)
}

// serverOf resolves --server, then MXPROBE_SERVER, then the default. A bare
// host:port is taken as http://, or https:// when a controller CA is given.
func serverOf(cmd *cobra.Command) (server, error) {
	s := server{source: "--server"}
	s.base, _ = cmd.Flags().GetString("server")
	if s.base == "" {
		s.base, s.source = os.Getenv(serverEnv), serverEnv
	}
	if s.base == "" {
		s.base, s.source = defaultServer, ""
	}
	s.base = strings.TrimRight(s.base, "/")
	if !strings.Contains(s.base, "://") {
		scheme := "http://"
		if controllerCAFile(cmd) != "" {
			scheme = "https://"
		}
		s.base = scheme + s.base
	}
	u, err := url.Parse(s.base)
	if err != nil || u.Host == "" || u.Scheme != "http" && u.Scheme != "https" {
		return s, fmt.Errorf("controller address %q (set by %s): want host:port, http://host:port or https://host:port", s.base, s.source)
	}
	return s, nil
}

// host is the host:port requests go to.
func (s server) host() string {
	u, _ := url.Parse(s.base)
	return u.Host
}

// how tells the reader how to point the CLI elsewhere.
func (s server) how() string {
	from := "set by " + s.source
	if s.source == "" {
		from = "the default, as neither --server nor " + serverEnv + " is set"
	}
	return fmt.Sprintf("(%s): point --server or %s at the controller's HTTP port (default 7401)", from, serverEnv)
}

// explain turns a failed request into a message naming the address, where
// it came from and what to change.
func (s server) explain(method, path string, err error) error {
	var op *net.OpError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%s %s: nothing listens on %s (connection refused): is the controller running? %s", method, path, s.host(), s.how())
	case strings.Contains(err.Error(), `malformed HTTP response "\x00\x00`):
		return fmt.Errorf("%s %s: %s answered with HTTP/2 frames: %w, it is the controller's gRPC port (agents use it); %s", method, path, s.host(), ErrWrongPort, s.how())
	case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return fmt.Errorf("%s %s: %s speaks plain HTTP: use http://%s (https:// needs a controller with TLS)", method, path, s.host(), s.host())
	case errors.As(err, &op) && op.Op == "dial":
		return fmt.Errorf("%s %s: cannot reach %s: %w; %s", method, path, s.host(), err, s.how())
	}
	return fmt.Errorf("%s %s%s: %w", method, s.base, path, err)
}

// checkResponse refuses an answer from the gRPC port (with TLS, HTTP/2 is
// negotiated and gRPC answers the request itself).
func (s server) checkResponse(method, path string, resp *http.Response) error {
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/grpc") {
		return fmt.Errorf("%s %s: %s answered as a gRPC server: %w, it is the controller's gRPC port (agents use it); %s", method, path, s.host(), ErrWrongPort, s.how())
	}
	return nil
}

// controllerCAFile is --controller-ca-file (or the deprecated --ca-file),
// else MXPROBE_CONTROLLER_CA_FILE.
func controllerCAFile(cmd *cobra.Command) string {
	for _, f := range []string{"controller-ca-file", "ca-file"} {
		if v, _ := cmd.Flags().GetString(f); v != "" {
			return v
		}
	}
	return os.Getenv(controllerCAEnv)
}
