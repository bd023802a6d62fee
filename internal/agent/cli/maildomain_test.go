package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/lab/dnslab"
	"github.com/mxprobe/mxprobe/internal/tempdir"
)

// The command docs/outside-in.md shows, against the DNSSEC lab: a signed
// domain without MTA-STS or TLS-RPT, through the validating resolver.
func TestCheckMailDomains(t *testing.T) {
	if err := dnslab.Available(); err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	l, err := dnslab.Start(ctx, tempdir.New(t), []dnslab.Zone{{Origin: "contoso.test", Records: []string{"contoso.test. IN MX 10 mail.contoso.test.", "mail.contoso.test. IN A 127.0.0.1"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var out, errb bytes.Buffer
	code := Main(ctx, []string{"check", "--mail-domains", "contoso.test", "--dns-resolver", l.Resolver, "--format", "json"}, &out, &errb)
	// protojson varies its whitespace on purpose: decode, never match text.
	var fs []struct{ Code, Subject string }
	if err := json.Unmarshal(out.Bytes(), &fs); err != nil {
		t.Fatalf("exit %d: %v\n%s\n%s", code, err, out.String(), errb.String())
	}
	got := map[string]string{}
	for _, f := range fs {
		got[f.Code] = f.Subject
	}
	if code != 0 || got["MTASTS_NO_POLICY"] != "contoso.test" || got["TLSRPT_RECORD_MISSING"] != "contoso.test" {
		t.Fatalf("exit %d, findings %v\n%s\n%s", code, got, out.String(), errb.String())
	}
	if _, bad := got["DNS_RESOLVER_NOT_VALIDATING"]; bad {
		t.Fatalf("the validating lab resolver reported as not validating\n%s", out.String())
	}
}
