package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

// realExports is Microsoft's HealthChecker test data (testdata/css-exchange,
// MIT, attribution in its README): Export-Clixml files written by real
// Exchange 2016 and 2019 servers, not by this project's fixture writer.
const realExports = "testdata/css-exchange/"

// Real Get-ExchangeCertificate, X509Certificate2, Get-SendConnector and
// Get-ReceiveConnector exports are read as they are: every certificate by
// the thumbprint the export's own ToString states, and the connector
// settings the findings quote are the ones in the files.
func TestRealExportsFromCSSExchange(t *testing.T) {
	t.Run("Get-ExchangeCertificate, Exchange 2019", func(t *testing.T) {
		code, out, stderr := run(t, "check", "--cert-store", "snapshot:"+realExports+"E19/Exchange/GetExchangeCertificate.xml",
			"--certificates", "--hostname", "solo-e19a.solo.com")
		// The Auth certificate and CN=Solo-E19A expired in 2024. The export
		// lists no Exchange services and no connectors were read, so
		// nothing says transport uses either: warnings that say what to
		// check, not a fix that binds the OAuth certificate to SMTP.
		if code != 0 {
			t.Fatalf("exit %d, want 0 (warnings only); stderr %s\n%s", code, stderr, out)
		}
		wantAll(t, out, "3 certificates",
			"WARNING  CERT_EXPIRED      Certificate C3EDCF181EF4F9B53D01768ECA99564014BCA6E7 (CN=Microsoft Exchange Server Auth Certificate) expired",
			"fix: Check whether SMTP uses it: Get-ExchangeCertificate -Thumbprint C3EDCF181EF4F9B53D01768ECA99564014BCA6E7 | fl Services",
			"C3EDCF181EF4F9B53D01768ECA99564014BCA6E7  2024-11-06", // CN=Microsoft Exchange Server Auth Certificate
			"6C7DE09FB39A40144F57EFEBC3DF0148E3A9AB28  2024-12-03", // CN=Solo-E19A
			"38247AD2B76244411748274C508D13446311830B  2029-11-30") // CN=WMSvc-WIN-K300A9DA9VA
	})
	t.Run("Get-ExchangeCertificate, Exchange 2016, and the internal transport certificate", func(t *testing.T) {
		_, out, stderr := run(t, "check", "--cert-store", "snapshot:"+realExports+"E16/Exchange/GetExchangeCertificate.xml",
			"--cert-store", "snapshot:"+realExports+"E19/Exchange/GetInternalTransportCertificateFromServer.xml", "--certificates")
		wantAll(t, out+stderr, "GetExchangeCertificate.xml: OK (", "3 certificates)", "GetInternalTransportCertificateFromServer.xml: OK (", "1 certificate)",
			"92E196F3C8D3D753FCFC5B7690C3173AA1C0ABE3", "823884A32609DCDC8C4B5462952586C30D814073",
			"A60C6E62FF85D208DF668D597A1B077E1534147F", "D003810EBE1624145889D031FBB77ED2BD280FD3")
	})
	t.Run("Get-SendConnector and Get-ReceiveConnector", func(t *testing.T) {
		code, out, stderr := run(t, "check", "--cert-store", "snapshot:"+realExports+"E19/Exchange/GetExchangeCertificate.xml",
			"--exchange-inventory", realExports+"E19/Exchange", "--hostname", "win-ctd3l0rgen4.exlab.dom", "--format", "json")
		if code != 2 {
			t.Fatalf("exit %d, want 2; stderr %s", code, stderr)
		}
		var fs []jsonFinding
		if err := json.Unmarshal([]byte(out), &fs); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, out)
		}
		got := map[string]jsonFinding{}
		for _, f := range fs {
			got[f.Code+" "+f.Subject] = f
		}
		// TlsCertificateName is an SmtpX509Identifier object in the export
		// (<I>CN=localhost<S>CN=localhost on the send connector).
		if f, ok := got["CONNECTOR_CERT_NOT_FOUND Mail to O365"]; !ok || f.Evidence["tls_certificate_name"] != "<I>CN=localhost<S>CN=localhost" {
			t.Errorf("send connector Mail to O365: %+v", f)
		}
		recv := `WIN-CTD3L0RGEN4\Default Frontend WIN-CTD3L0RGEN4`
		if f, ok := got["CONNECTOR_CERT_NOT_FOUND "+recv]; !ok || f.Evidence["tls_certificate_name"] != "<I>CN=WIN-CTD3L0RGEN4<S>CN=WIN-CTD3L0RGEN4" {
			t.Errorf("receive connector %s: %+v", recv, f)
		}
		// CloudServicesMailEnabled true with RequireTLS false, as exported.
		if _, ok := got["CONNECTOR_WEAK_TLS_AUTH Mail to O365"]; !ok {
			t.Errorf("no CONNECTOR_WEAK_TLS_AUTH for Mail to O365 in %v", keysOf(got))
		}
		// The other four receive connectors have no TlsCertificateName
		// (Nil in the export) and no certificate for their FQDN here.
		for _, name := range []string{"Client Frontend", "Client Proxy", "Default", "Outbound Proxy Frontend"} {
			if _, ok := got[`SMTP_STARTTLS_NOT_OFFERED WIN-CTD3L0RGEN4\`+name+" WIN-CTD3L0RGEN4"]; !ok {
				t.Errorf("receive connector %q not diagnosed: %v", name, keysOf(got))
			}
		}
	})
}

func wantAll(t *testing.T, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}

func keysOf(m map[string]jsonFinding) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
