package helmtest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
)

// rest is how tests reach controllers' REST APIs: plain HTTP for the
// insecure lab, HTTPS trusting the cluster CA with a bearer token for the
// secure one.
type rest struct {
	client *http.Client
	token  string
}

func plainREST() rest { return rest{client: http.DefaultClient} }

// secureREST trusts caFile and sends token.
func secureREST(caFile, token string) (rest, error) {
	pemBytes, err := os.ReadFile(caFile)
	if err != nil {
		return rest{}, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return rest{}, fmt.Errorf("%s: no certificate", caFile)
	}
	return rest{client: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}, token: token}, nil
}

func (r rest) do(ctx context.Context, method, url string, body []byte) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	return r.client.Do(req)
}

func (r rest) get(ctx context.Context, url string) (*http.Response, error) {
	return r.do(ctx, http.MethodGet, url, nil)
}
