package protolog

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/tempdir"
)

func parseString(t *testing.T, name, s string) *Summary {
	t.Helper()
	var p Parser
	sum, err := p.Parse(context.Background(), strings.NewReader(s), name)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

func TestSeedCaseSendLog(t *testing.T) {
	var p Parser
	sum, err := p.ParseFile(context.Background(), "testdata/SEND20190502-1.log")
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Sessions) != 1 {
		t.Fatalf("sessions = %d, want 1", len(sum.Sessions))
	}
	s := sum.Sessions[0]
	if s.Direction != DirectionSend || s.Connector != "Outbound to Office 365" || s.ID != "08D6CE8F0A2C3B11" {
		t.Errorf("direction/connector/id: %v %q %q", s.Direction, s.Connector, s.ID)
	}
	if !s.Closed || s.Local != "10.0.0.5:28311" || s.Remote != "104.47.1.33:25" || s.RemoteHost() != "104.47.1.33" {
		t.Errorf("closed=%v local=%q remote=%q", s.Closed, s.Local, s.Remote)
	}
	if s.RemoteName != "AM5EUR03FT012.mail.protection.outlook.com" {
		t.Errorf("remote name %q", s.RemoteName)
	}
	if !s.Start.Equal(time.Date(2019, 5, 2, 6, 32, 9, 901e6, time.UTC)) || !s.End.Equal(time.Date(2019, 5, 2, 6, 32, 10, 135e6, time.UTC)) {
		t.Errorf("start/end %v %v", s.Start, s.End)
	}
	if !s.TLS.Failed || s.TLS.Status != "NoCredentials" || s.TLS.Succeeded {
		t.Errorf("tls %+v", s.TLS)
	}
	c := s.SentCertificate()
	if c == nil {
		t.Fatal("no sent certificate")
	}
	if c.Thumbprint != "B79D6C2E1A0F4B3C8D9E7F6A5B4C3D2E1F0A9B8C" || c.Subject != "CN=mail.contoso.com, O=Contoso, L=Amsterdam, C=NL" ||
		c.Issuer != "CN=DigiCert SHA2 Secure Server CA, O=DigiCert Inc, C=US" || c.SerialNumber != "0A1B2C3D4E5F60718293A4B5C6D7E8F9" {
		t.Errorf("cert %+v", c)
	}
	if !slices.Equal(c.AlternateNames, []string{"mail.contoso.com", "autodiscover.contoso.com", "edge2019.contoso.com"}) {
		t.Errorf("sans %q", c.AlternateNames)
	}
	if !s.StartTLSOffered || !s.StartTLSIssued || !s.EHLOSeen {
		t.Errorf("starttls offered=%v issued=%v", s.StartTLSOffered, s.StartTLSIssued)
	}
	wantCaps := []string{"SIZE 157286400", "PIPELINING", "DSN", "ENHANCEDSTATUSCODES", "STARTTLS", "8BITMIME", "BINARYMIME", "CHUNKING"}
	if !slices.Equal(s.Capabilities, wantCaps) {
		t.Errorf("caps %q", s.Capabilities)
	}
	if !slices.Equal(s.ReplyCodes, []int{220, 250}) {
		t.Errorf("codes %v", s.ReplyCodes)
	}
	if sum.Stats.Rows != 23 || sum.Stats.HeaderLines != 5 || sum.Stats.BadRows != 0 {
		t.Errorf("stats %+v", sum.Stats)
	}
	if len(sum.Files) != 1 || sum.Files[0].LogType != "SMTP Send Protocol Log" || sum.Files[0].Software != "Microsoft Exchange Server" {
		t.Errorf("files %+v", sum.Files)
	}
	status, failed := s.FailureStatus()
	if sent := s.SentCertificate(); !failed || status != "NoCredentials" || sent == nil || sent.Thumbprint != "B79D6C2E1A0F4B3C8D9E7F6A5B4C3D2E1F0A9B8C" ||
		s.Connector != "Outbound to Office 365" || s.RemoteHost() != "104.47.1.33" {
		t.Errorf("failure %q %v, sent %+v, connector %q remote %q", status, failed, sent, s.Connector, s.RemoteHost())
	}
}

const hdrSend = "#Software: Microsoft Exchange Server\r\n#Version: 15.01.2375.007\r\n#Log-Type: SMTP Send Protocol Log\r\n#Date: 2021-03-01T00:00:00.000Z\r\n#Fields: date-time,connector-id,session-id,sequence-number,local-endpoint,remote-endpoint,event,data,context\r\n"

func TestSuccessfulSession(t *testing.T) {
	log := hdrSend + `2021-03-01T10:00:00.000Z,Outbound to Office 365,08D8DBE2C1A00001,0,,52.101.1.1:25,*,,attempting to connect
2021-03-01T10:00:00.010Z,Outbound to Office 365,08D8DBE2C1A00001,1,10.0.0.5:40000,52.101.1.1:25,+,,
2021-03-01T10:00:00.020Z,Outbound to Office 365,08D8DBE2C1A00001,2,10.0.0.5:40000,52.101.1.1:25,<,220 DB3EUR04FT040.mail.protection.outlook.com Microsoft ESMTP MAIL Service ready,
2021-03-01T10:00:00.030Z,Outbound to Office 365,08D8DBE2C1A00001,3,10.0.0.5:40000,52.101.1.1:25,>,EHLO mail.contoso.com,
2021-03-01T10:00:00.040Z,Outbound to Office 365,08D8DBE2C1A00001,4,10.0.0.5:40000,52.101.1.1:25,<,250-DB3EUR04FT040.mail.protection.outlook.com Hello [198.51.100.7],
2021-03-01T10:00:00.040Z,Outbound to Office 365,08D8DBE2C1A00001,5,10.0.0.5:40000,52.101.1.1:25,<,250 STARTTLS,
2021-03-01T10:00:00.050Z,Outbound to Office 365,08D8DBE2C1A00001,6,10.0.0.5:40000,52.101.1.1:25,>,STARTTLS,
2021-03-01T10:00:00.060Z,Outbound to Office 365,08D8DBE2C1A00001,7,10.0.0.5:40000,52.101.1.1:25,<,220 2.0.0 SMTP server ready,
2021-03-01T10:00:00.070Z,Outbound to Office 365,08D8DBE2C1A00001,8,10.0.0.5:40000,52.101.1.1:25,*,,Sending certificate
2021-03-01T10:00:00.070Z,Outbound to Office 365,08D8DBE2C1A00001,9,10.0.0.5:40000,52.101.1.1:25,*,3C1F8E6A9B2D4C5E6F708192A3B4C5D6E7F80912,Certificate thumbprint
2021-03-01T10:00:00.080Z,Outbound to Office 365,08D8DBE2C1A00001,10,10.0.0.5:40000,52.101.1.1:25,*,,"` + genSuccess + `"
2021-03-01T10:00:00.080Z,Outbound to Office 365,08D8DBE2C1A00001,11,10.0.0.5:40000,52.101.1.1:25,*,,Remote certificate
2021-03-01T10:00:00.080Z,Outbound to Office 365,08D8DBE2C1A00001,12,10.0.0.5:40000,52.101.1.1:25,*,"CN=mail.protection.outlook.com, O=Microsoft Corporation, L=Redmond, S=Washington, C=US",Certificate subject
2021-03-01T10:00:00.080Z,Outbound to Office 365,08D8DBE2C1A00001,13,10.0.0.5:40000,52.101.1.1:25,*,7A6B5C4D3E2F1A0B9C8D7E6F5A4B3C2D1E0F9A8B,Certificate thumbprint
2021-03-01T10:00:01.000Z,Outbound to Office 365,08D8DBE2C1A00001,14,10.0.0.5:40000,52.101.1.1:25,-,,Local
`
	s := parseString(t, "SEND20210301-1.log", log).Sessions[0]
	if !s.TLS.Succeeded || s.TLS.Failed || s.TLS.Protocol != "SP_PROT_TLS1_2_CLIENT" {
		t.Errorf("tls %+v", s.TLS)
	}
	if s.SentCertificate().Thumbprint != "3C1F8E6A9B2D4C5E6F708192A3B4C5D6E7F80912" {
		t.Errorf("sent %+v", s.SentCertificate())
	}
	pc := s.PeerCertificate()
	if pc == nil || pc.Thumbprint != "7A6B5C4D3E2F1A0B9C8D7E6F5A4B3C2D1E0F9A8B" || !strings.HasPrefix(pc.Subject, "CN=mail.protection.outlook.com,") {
		t.Errorf("peer %+v", pc)
	}
	if _, failed := s.FailureStatus(); failed {
		t.Error("successful session reported as failure")
	}
}

func TestCondensedCertificateRow(t *testing.T) {
	log := hdrSend + `2021-03-01T10:00:00.070Z,Outbound to Office 365,08D8DBE2C1A00002,8,10.0.0.5:40000,52.101.1.1:25,*,"CN=mail.contoso.com, O=Contoso, C=NL CN=DigiCert SHA2 Secure Server CA, O=DigiCert Inc, C=US 0A1B2C3D4E5F60718293A4B5C6D7E8F9 B79D6C2E1A0F4B3C8D9E7F6A5B4C3D2E1F0A9B8C 5/1/2019 12:00:00 AM 5/1/2021 12:00:00 PM mail.contoso.com;autodiscover.contoso.com",Sending certificate Subject Issuer name Serial number Thumbprint Not before Not after Subject alternate names
2021-03-01T10:00:00.080Z,Outbound to Office 365,08D8DBE2C1A00002,9,10.0.0.5:40000,52.101.1.1:25,*,,TLS negotiation failed with error UnknownCredentials
`
	sum := parseString(t, "x.log", log)
	s := sum.Sessions[0]
	c := s.SentCertificate()
	if c == nil || !c.Condensed || c.Thumbprint != "B79D6C2E1A0F4B3C8D9E7F6A5B4C3D2E1F0A9B8C" || c.Subject != "CN=mail.contoso.com, O=Contoso, C=NL" ||
		c.NotAfter.Year() != 2021 {
		t.Fatalf("cert %+v", c)
	}
	if s.TLS.Status != "UnknownCredentials" || s.Closed {
		t.Errorf("tls %+v closed=%v", s.TLS, s.Closed)
	}
}

func TestReceiveEmptyCertificate(t *testing.T) {
	log := "#Software: Microsoft Exchange Server\n#Version: 15.01.2375.007\n#Log-Type: SMTP Receive Protocol Log\n#Date: 2021-03-01T00:00:00.000Z\n#Fields: date-time,connector-id,session-id,sequence-number,local-endpoint,remote-endpoint,event,data,context\n" +
		`2021-03-01T10:00:00.000Z,EDGE01\Default internal receive connector EDGE01,08D8DBE2C1A0000A,0,10.0.0.5:25,40.107.1.2:5000,+,,
2021-03-01T10:00:00.010Z,EDGE01\Default internal receive connector EDGE01,08D8DBE2C1A0000A,1,10.0.0.5:25,40.107.1.2:5000,>,"220 EDGE01.contoso.com Microsoft ESMTP MAIL Service ready at Mon, 1 Mar 2021 10:00:00 +0000",
2021-03-01T10:00:00.020Z,EDGE01\Default internal receive connector EDGE01,08D8DBE2C1A0000A,2,10.0.0.5:25,40.107.1.2:5000,<,EHLO NAM12-DM6-obe.outbound.protection.outlook.com,
2021-03-01T10:00:00.030Z,EDGE01\Default internal receive connector EDGE01,08D8DBE2C1A0000A,3,10.0.0.5:25,40.107.1.2:5000,>,250  EDGE01.contoso.com Hello [40.107.1.2] SIZE 37748736 PIPELINING DSN ENHANCEDSTATUSCODES STARTTLS X-ANONYMOUSTLS AUTH NTLM 8BITMIME BINARYMIME CHUNKING,
2021-03-01T10:00:00.040Z,EDGE01\Default internal receive connector EDGE01,08D8DBE2C1A0000A,4,10.0.0.5:25,40.107.1.2:5000,<,STARTTLS,
2021-03-01T10:00:00.050Z,EDGE01\Default internal receive connector EDGE01,08D8DBE2C1A0000A,5,10.0.0.5:25,40.107.1.2:5000,>,220 2.0.0 SMTP server ready,
2021-03-01T10:00:00.060Z,EDGE01\Default internal receive connector EDGE01,08D8DBE2C1A0000A,6,10.0.0.5:25,40.107.1.2:5000,*,,Sending certificate
2021-03-01T10:00:00.060Z,EDGE01\Default internal receive connector EDGE01,08D8DBE2C1A0000A,7,10.0.0.5:25,40.107.1.2:5000,*,CN=EDGE01,Certificate subject
2021-03-01T10:00:00.060Z,EDGE01\Default internal receive connector EDGE01,08D8DBE2C1A0000A,8,10.0.0.5:25,40.107.1.2:5000,*,CN=EDGE01,Certificate issuer name
2021-03-01T10:00:00.070Z,EDGE01\Default internal receive connector EDGE01,08D8DBE2C1A0000A,9,10.0.0.5:25,40.107.1.2:5000,*,,"TLS protocol SP_PROT_TLS1_2_SERVER negotiation succeeded using bulk encryption algorithm CALG_AES_256 with strength 256 bits, MAC hash algorithm CALG_SHA_384 with strength 0 bits and key exchange algorithm CALG_ECDH_EPHEM with strength 384 bits"
2021-03-01T10:00:00.080Z,EDGE01\Default internal receive connector EDGE01,08D8DBE2C1A0000A,10,10.0.0.5:25,40.107.1.2:5000,*,,Client certificate chain validation status: 'EmptyCertificate'
2021-03-01T10:00:00.090Z,EDGE01\Default internal receive connector EDGE01,08D8DBE2C1A0000A,11,10.0.0.5:25,40.107.1.2:5000,*,TlsDomainCapabilities='None'; Status='NoRemoteCertificate'; Domain='',
2021-03-01T10:00:00.100Z,EDGE01\Default internal receive connector EDGE01,08D8DBE2C1A0000A,12,10.0.0.5:25,40.107.1.2:5000,<,MAIL FROM:<a@fabrikam.com>,
2021-03-01T10:00:00.110Z,EDGE01\Default internal receive connector EDGE01,08D8DBE2C1A0000A,13,10.0.0.5:25,40.107.1.2:5000,>,451 5.7.3 Must issue a STARTTLS command first,
2021-03-01T10:00:00.120Z,EDGE01\Default internal receive connector EDGE01,08D8DBE2C1A0000A,14,10.0.0.5:25,40.107.1.2:5000,-,,Remote
`
	sum := parseString(t, "RECV20210301-1.log", log)
	s := sum.Sessions[0]
	if s.Direction != DirectionReceive || s.Connector != `EDGE01\Default internal receive connector EDGE01` {
		t.Errorf("dir %v conn %q", s.Direction, s.Connector)
	}
	if s.ClientCertChainStatus != "EmptyCertificate" || s.TLSDomainCapabilities != "None" || s.RemoteCertStatus != "NoRemoteCertificate" {
		t.Errorf("receive fields %q %q %q", s.ClientCertChainStatus, s.TLSDomainCapabilities, s.RemoteCertStatus)
	}
	if !s.StartTLSOffered || !s.StartTLSIssued || s.RemoteName != "NAM12-DM6-obe.outbound.protection.outlook.com" {
		t.Errorf("starttls %v %v name %q", s.StartTLSOffered, s.StartTLSIssued, s.RemoteName)
	}
	wantCaps := []string{"SIZE 37748736", "PIPELINING", "DSN", "ENHANCEDSTATUSCODES", "STARTTLS", "X-ANONYMOUSTLS", "AUTH NTLM", "8BITMIME", "BINARYMIME", "CHUNKING"}
	if !slices.Equal(s.Capabilities, wantCaps) {
		t.Errorf("caps %q", s.Capabilities)
	}
	if !s.TLS.Succeeded || s.TLS.Protocol != "SP_PROT_TLS1_2_SERVER" {
		t.Errorf("tls %+v", s.TLS)
	}
	c := s.SentCertificate()
	if c == nil || c.Subject != "CN=EDGE01" || c.Issuer != "CN=EDGE01" {
		t.Errorf("cert %+v", c)
	}
	if !s.HasReply(451, "5.7.3") || s.Replies[0].Text != "451 5.7.3 Must issue a STARTTLS command first" {
		t.Errorf("replies %+v", s.Replies)
	}
	if st, ok := s.FailureStatus(); !ok || st != "451 5.7.3" {
		t.Errorf("failure status %q %v", st, ok)
	}
}

func TestNoStartTLSOffered(t *testing.T) {
	log := `2021-03-01T10:00:00.000Z,To Partner,08D8000000000001,0,10.0.0.5:1,192.0.2.1:25,<,220 mx.partner.example ESMTP,
2021-03-01T10:00:00.000Z,To Partner,08D8000000000001,1,10.0.0.5:1,192.0.2.1:25,>,EHLO mail.contoso.com,
2021-03-01T10:00:00.000Z,To Partner,08D8000000000001,2,10.0.0.5:1,192.0.2.1:25,<,250-mx.partner.example Hello [198.51.100.7],
2021-03-01T10:00:00.000Z,To Partner,08D8000000000001,3,10.0.0.5:1,192.0.2.1:25,<,250-SIZE 37748736,
2021-03-01T10:00:00.000Z,To Partner,08D8000000000001,4,10.0.0.5:1,192.0.2.1:25,<,250-X-ANONYMOUSTLS,
2021-03-01T10:00:00.000Z,To Partner,08D8000000000001,5,10.0.0.5:1,192.0.2.1:25,<,250 AUTH NTLM,
2021-03-01T10:00:00.000Z,To Partner,08D8000000000001,6,10.0.0.5:1,192.0.2.1:25,<,451 5.7.3 STARTTLS is required to send mail,
2021-03-01T10:00:00.000Z,To Partner,08D8000000000001,7,10.0.0.5:1,192.0.2.1:25,<,421 4.4.2 Connection dropped due to SocketError,
`
	// No header at all: default field order, direction from the name.
	sum := parseString(t, `C:\Logs\SmtpSend\SEND20210301-3.log`, log)
	s := sum.Sessions[0]
	if s.Direction != DirectionSend || s.StartTLSOffered || !s.EHLOSeen || s.Closed {
		t.Errorf("%+v", s)
	}
	if !s.HasReply(451, "5.7.3") || !s.HasReply(421, "4.4.2") || !slices.Equal(s.ReplyCodes, []int{220, 250, 451, 421}) {
		t.Errorf("replies %+v codes %v", s.Replies, s.ReplyCodes)
	}
}

func TestQuotingAndCustomFieldOrder(t *testing.T) {
	log := "#Fields: session-id,date-time,event,context,data,connector-id\n" +
		`08D8000000000002,2021-03-01T10:00:00.000Z,*,Certificate subject,"CN=""quoted"", O=""A, B""",Partner
08D8000000000002,2021-03-01T10:00:01.000Z,*,"TLS negotiation failed with error SocketError",,"Partner, Inc."
`
	sum := parseString(t, "SEND20210301-1.log", log)
	s := sum.Sessions[0]
	if s.Connector != "Partner" || len(s.Certificates) != 1 || s.Certificates[0].Subject != `CN="quoted", O="A, B"` {
		t.Errorf("%+v", s)
	}
	if s.TLS.Status != "SocketError" {
		t.Errorf("tls %+v", s.TLS)
	}
}

func TestInterleavedSessionsAndRotation(t *testing.T) {
	dir := tempdir.New(t)
	a := hdrSend + `2021-03-01T10:00:00.000Z,C1,AAAA000000000001,0,10.0.0.5:1,192.0.2.1:25,+,,
2021-03-01T10:00:00.001Z,C2,BBBB000000000002,0,10.0.0.5:2,192.0.2.2:25,+,,
2021-03-01T10:00:00.002Z,C1,AAAA000000000001,1,10.0.0.5:1,192.0.2.1:25,*,,Sending certificate
2021-03-01T10:00:00.003Z,C2,BBBB000000000002,1,10.0.0.5:2,192.0.2.2:25,*,,Sending certificate
2021-03-01T10:00:00.004Z,C1,AAAA000000000001,2,10.0.0.5:1,192.0.2.1:25,*,1111111111111111111111111111111111111111,Certificate thumbprint
2021-03-01T10:00:00.005Z,C2,BBBB000000000002,2,10.0.0.5:2,192.0.2.2:25,*,2222222222222222222222222222222222222222,Certificate thumbprint
2021-03-01T10:00:00.006Z,C2,BBBB000000000002,3,10.0.0.5:2,192.0.2.2:25,-,,Local
`
	b := hdrSend + `2021-03-01T10:00:05.000Z,C1,AAAA000000000001,3,10.0.0.5:1,192.0.2.1:25,*,,TLS negotiation failed with error NoCredentials
2021-03-01T10:00:05.001Z,C1,AAAA000000000001,4,10.0.0.5:1,192.0.2.1:25,-,,Local
`
	// -10 must sort after -9.
	os.WriteFile(filepath.Join(dir, "SEND20210301-9.log"), []byte(a), 0o644)
	os.WriteFile(filepath.Join(dir, "SEND20210301-10.log"), []byte(b), 0o644)
	files, err := FindLogFiles(context.Background(), []string{dir}, 0)
	if err != nil || len(files) != 2 || !strings.HasSuffix(files[1], "-10.log") {
		t.Fatalf("files %v %v", files, err)
	}
	var p Parser
	sum, err := p.ParseFiles(context.Background(), files)
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Sessions) != 2 {
		t.Fatalf("sessions %d", len(sum.Sessions))
	}
	s1, s2 := sum.Sessions[0], sum.Sessions[1]
	if s1.ID != "AAAA000000000001" || !s1.Closed || s1.TLS.Status != "NoCredentials" || len(s1.Files) != 2 ||
		s1.SentCertificate().Thumbprint != "1111111111111111111111111111111111111111" {
		t.Errorf("s1 %+v", s1)
	}
	if s2.SentCertificate().Thumbprint != "2222222222222222222222222222222222222222" || s2.TLS.Failed {
		t.Errorf("s2 %+v", s2)
	}
}

func TestRobustness(t *testing.T) {
	good := "2021-03-01T10:00:00.000Z,C,S1,0,,,*,,TLS negotiation failed with error NoCredentials\n"
	var b bytes.Buffer
	b.WriteString("\xEF\xBB\xBF#Software: Microsoft Exchange Server\n")
	b.WriteString(good)
	b.WriteString("\x00\x01\x02\xff\xfe garbage,,,\n")
	b.WriteString(`2021-03-01T10:00:00.000Z,C,S1,1,,,*,"unterminated,ctx` + "\n")
	b.WriteString("2021-03-01T10:00:00.000Z,C,S1,2,,,?,,bad event\n")
	b.WriteString(strings.Repeat("x", 100<<10) + "\n") // long line
	b.WriteString("2021-03-01T10:00:00.000Z,C,S2,0,,,*,,Sending certificate\n")
	b.WriteString("\n")
	b.WriteString("2021-03-01T10:00:01.000Z,C,S2,1,,,*,ABCDEF0123456789ABCDEF0123456789ABCDEF01,Certificate thumbprint") // truncated last line, no newline
	var p Parser
	sum, err := p.Parse(context.Background(), &b, "SEND20210301-1.log")
	if err != nil {
		t.Fatal(err)
	}
	if sum.Stats.LongLines != 1 || sum.Stats.BadRows != 3 || sum.Stats.Rows != 3 {
		t.Errorf("stats %+v", sum.Stats)
	}
	if len(sum.Sessions) != 2 || sum.Sessions[1].SentCertificate().Thumbprint != "ABCDEF0123456789ABCDEF0123456789ABCDEF01" {
		t.Errorf("sessions %+v", sum.Sessions)
	}
}

func TestContextCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var p Parser
	_, err := p.Parse(ctx, bytes.NewReader(genLog(genOptions{Sessions: 10, Seed: 1})), "SEND20190502-1.log")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
}

func TestGeneratedLogs(t *testing.T) {
	for _, dir := range []Direction{DirectionSend, DirectionReceive} {
		data := genLog(genOptions{Direction: dir, Sessions: 500, Interleave: 20, Seed: 7})
		name := "SEND20190502-1.log"
		if dir == DirectionReceive {
			name = "RECV20190502-1.log"
		}
		var p Parser
		sum, err := p.Parse(context.Background(), bytes.NewReader(data), name)
		if err != nil {
			t.Fatal(err)
		}
		if len(sum.Sessions) != 500 || sum.Stats.BadRows != 0 {
			t.Fatalf("%v: sessions %d stats %+v", dir, len(sum.Sessions), sum.Stats)
		}
		var failed, ok int
		for _, s := range sum.Sessions {
			if !s.Closed || s.Direction != dir {
				t.Fatalf("%+v", s)
			}
			if s.TLS.Failed {
				failed++
			}
			if s.TLS.Succeeded {
				ok++
			}
		}
		if dir == DirectionSend && (failed == 0 || ok == 0) {
			t.Errorf("failed=%d ok=%d", failed, ok)
		}
		if dir == DirectionSend {
			grouped := 0
			for i := range sum.Sessions {
				ss := &sum.Sessions[i]
				status, failed := ss.FailureStatus()
				if !failed {
					continue
				}
				grouped++
				if sent := ss.SentCertificate(); status == "NoCredentials" && (sent == nil || sent.Thumbprint != genThumbBad) {
					t.Errorf("session %s: NoCredentials sending %+v", ss.ID, sent)
				}
			}
			if grouped == 0 {
				t.Fatal("no failed sessions")
			}
			local := map[string]bool{}
			for i := range sum.Sessions {
				if c := sum.Sessions[i].SentCertificate(); c != nil {
					local[c.Thumbprint] = true
				}
			}
			if len(local) < 2 {
				t.Errorf("local certificates seen %v", local)
			}
		}
	}
}

func TestOpenSessionCap(t *testing.T) {
	var lines strings.Builder
	for i := range 100 {
		lines.WriteString("2021-03-01T10:00:00.000Z,C,S" + string(rune('A'+i%26)) + string(rune('A'+i/26)) + ",0,,,+,,\n")
	}
	p := Parser{MaxOpenSessions: 10}
	sum, err := p.Parse(context.Background(), strings.NewReader(lines.String()), "SEND20210301-1.log")
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Sessions) != 100 || sum.Stats.Evicted == 0 {
		t.Fatalf("%d %+v", len(sum.Sessions), sum.Stats)
	}
}

func TestParseLine(t *testing.T) {
	r, err := ParseLine([]byte(`2019-05-02T06:32:10.118Z,Outbound to Office 365,08D6CE8F0A2C3B11,16,10.0.0.5:28311,104.47.1.33:25,*,"CN=mail.contoso.com, O=Contoso, C=NL",Certificate subject`+"\r\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Seq != 16 || r.Event != EventInfo || r.Data != "CN=mail.contoso.com, O=Contoso, C=NL" || r.Context != "Certificate subject" ||
		!r.Time.Equal(time.Date(2019, 5, 2, 6, 32, 10, 118e6, time.UTC)) {
		t.Errorf("%+v", r)
	}
	if _, err := ParseLine([]byte("#Fields: x"), nil); !errors.Is(err, ErrHeaderLine) {
		t.Error(err)
	}
	if _, err := ParseLine([]byte(`a,b,"c`), nil); !errors.Is(err, ErrBadQuoting) {
		t.Error(err)
	}
	if _, err := ParseLine([]byte(`a,b,c`), nil); !errors.Is(err, ErrBadRow) {
		t.Error(err)
	}
}

func TestParseDirs(t *testing.T) {
	var p Parser
	sum, err := p.ParseDirs(context.Background(), []string{"testdata"}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Files) != 1 || len(sum.Sessions) != 1 {
		t.Fatalf("%+v", sum.Files)
	}
	if _, err := p.ParseDirs(context.Background(), []string{"testdata/nope"}, 2); err == nil {
		t.Fatal("missing root not reported")
	}
}
