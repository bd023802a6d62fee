package queue

import (
	"testing"
	"time"
)

const seedLastError = `[{LED=451 4.4.395 Target host responded with error. -> 421 4.4.1 Connection timed out};{MSG=};{FQDN=exchangelabsnl-mail-onmicrosoft-com.mail.protection.outlook.com};{IP=};{LRT=5/2/2019 6:32:14 AM}]`

func TestParseLastErrorSeedCase(t *testing.T) {
	e := ParseLastError(seedLastError)
	if !e.Grouped || len(e.Fields) != 5 {
		t.Fatalf("fields %+v", e.Fields)
	}
	if e.LED != "451 4.4.395 Target host responded with error. -> 421 4.4.1 Connection timed out" || e.MSG != "" ||
		e.FQDN != "exchangelabsnl-mail-onmicrosoft-com.mail.protection.outlook.com" || e.IP != "" || e.LRT != "5/2/2019 6:32:14 AM" {
		t.Errorf("%+v", e)
	}
	if !e.LastRetry.Equal(time.Date(2019, 5, 2, 6, 32, 14, 0, time.UTC)) {
		t.Errorf("lrt %v", e.LastRetry)
	}
	if len(e.Causes) != 2 {
		t.Fatalf("causes %+v", e.Causes)
	}
	c0, c1 := e.Causes[0], e.Causes[1]
	if c0.Reply == nil || c0.Reply.Code != 451 || c0.Reply.Enhanced != "4.4.395" || c0.Text != "451 4.4.395 Target host responded with error." {
		t.Errorf("cause 0 %+v", c0)
	}
	if c1.Reply == nil || c1.Reply.Code != 421 || c1.Reply.Enhanced != "4.4.1" || c1.Text != "421 4.4.1 Connection timed out" {
		t.Errorf("cause 1 %+v", c1)
	}
	if e.RootCause().Reply.Code != 421 {
		t.Error("root cause")
	}
	c := Classify(e)
	if !c.Matched(SigTargetHostTimeout) || !c.Matched(SigConnectionTimedOut) || !c.Connection || c.TLS || len(c.Matches) != 2 {
		t.Errorf("classification %+v", c)
	}
}

func TestParseLastErrorSpaceAfterSeparator(t *testing.T) {
	// As printed in the seed incident write-up: "}; {IP=}".
	e := ParseLastError(`[{LED=451 4.4.395 Target host responded with error. -> 421 4.4.1 Connection timed out};{MSG=};{FQDN=tenant-mail-onmicrosoft-com.mail.protection.outlook.com}; {IP=};{LRT=5/2/2019 6:32:14 AM}]`)
	if len(e.Fields) != 5 || e.IP != "" || e.LRT != "5/2/2019 6:32:14 AM" || e.FQDN != "tenant-mail-onmicrosoft-com.mail.protection.outlook.com" {
		t.Fatalf("%+v", e.Fields)
	}
}

func TestParseLastErrorTrickyValues(t *testing.T) {
	s := `[{LED=450 4.4.317 Cannot connect to remote server [Message=SubjectMismatch Expected Subject: mail.contoso.com Presented Subject: CN=EDGE01; {X=y}] [LastAttemptedServerName=contoso-com.mail.protection.outlook.com] [LastAttemptedIP=104.47.1.33:25] -> 550 5.7.51 TenantInboundAttribution; Rejecting. RestrictDomainsToCertificate=true};{MSG=a;b=c -> d};{FQDN=contoso-com.mail.protection.outlook.com};{IP=104.47.1.33};{LRT=13.05.2024 14:03:00}`
	e := ParseLastError(s)
	if len(e.Fields) != 5 {
		t.Fatalf("fields %q", e.Fields)
	}
	if e.MSG != "a;b=c -> d" || e.IP != "104.47.1.33" || e.LastRetry.Day() != 13 {
		t.Errorf("%+v", e)
	}
	if len(e.Causes) != 2 || e.Causes[0].Reply.Enhanced != "4.4.317" || e.Causes[1].Reply.Code != 550 {
		t.Fatalf("causes %+v", e.Causes)
	}
	c := Classify(e)
	if !c.Matched(SigSubjectMismatch) || !c.Matched(SigTenantInboundAttrib) || !c.TLS {
		t.Errorf("%+v", c)
	}
}

func TestParseLastErrorPlainAndEmbedded(t *testing.T) {
	s := `451 4.4.0 Primary target IP address responded with: "421 4.2.1 Unable to connect." Attempted failover to alternate host, but that did not succeed. Either there are no alternate hosts, or delivery failed to all alternate hosts.`
	e := ParseLastError(s)
	if e.Grouped || len(e.Causes) != 1 {
		t.Fatalf("%+v", e)
	}
	c := e.Causes[0]
	if c.Reply.Code != 451 || c.Reply.Enhanced != "4.4.0" || len(c.Embedded) != 1 ||
		c.Embedded[0].Code != 421 || c.Embedded[0].Enhanced != "4.2.1" || c.Embedded[0].Text != "421 4.2.1 Unable to connect." {
		t.Fatalf("%+v", c)
	}
	if !ClassifyText(s).Matched(SigUnableToConnect) {
		t.Error("4.2.1 not classified")
	}
	for _, tc := range []struct {
		text, sig string
	}{
		{"454 4.7.5 The certificate specified in TlsCertificateName of the SendConnector could not be found.", SigCertNotFound},
		{"451 5.7.3 Must issue a STARTTLS command first", SigMustIssueStartTLS},
		{"451 5.7.3 STARTTLS is required to send mail", SigStartTLSRequired},
		{"[{LED=421 4.4.2 Connection dropped due to SocketError};{MSG=};{FQDN=x};{IP=1.2.3.4};{LRT=1/1/2024 1:00:00 PM}]", SigSocketErrorDrop},
		{"450 4.7.320 Certificate validation failed [Message=SubjectMismatch]", SigCertValidation},
		{"smtp;550 5.7.51 TenantInboundAttribution; There is a partner connector configured that matched the message's recipient domain.", SigTenantInboundAttrib},
		{"451 4.4.395 target host responded with error. -> 421 4.4.1 connection timed out", SigTargetHostTimeout}, // case-insensitive
	} {
		if c := ClassifyText(tc.text); !c.Matched(tc.sig) {
			t.Errorf("%q: %+v", tc.text, c)
		}
	}
	if c := ClassifyText("432 4.3.2 STOREDRV.Deliver; mailbox database thread limit exceeded"); len(c.Matches) != 0 {
		t.Errorf("false positive %+v", c)
	}
	if c := ClassifyText("451 4.4.395 Target host responded with error."); c.Matched(SigTargetHostTimeout) {
		t.Error("4.4.395 alone must not match the timeout signature")
	}
}

func TestParseLastErrorTruncatedAndEmpty(t *testing.T) {
	e := ParseLastError(`[{LED=421 4.4.1 Connection timed out};{MSG=};{FQDN=host.examp`)
	if len(e.Fields) != 3 || e.FQDN != "host.examp" || e.Causes[0].Reply.Code != 421 {
		t.Fatalf("%+v", e)
	}
	if e := ParseLastError(""); e.Grouped || len(e.Causes) != 0 {
		t.Fatalf("%+v", e)
	}
	if e := ParseLastError("[not groups]"); e.Grouped || len(e.Causes) != 1 {
		t.Fatalf("%+v", e)
	}
}
