package protolog

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// genOptions controls the synthetic log generator used by tests and
// benchmarks.
type genOptions struct {
	Direction  Direction
	Sessions   int
	Interleave int // sessions in flight at once
	Seed       uint64
	Start      time.Time
}

// csvQuote quotes a value the way Exchange does (RFC 4180, only if needed).
func csvQuote(s string) string {
	if !strings.ContainsAny(s, ",\"\r\n") {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

type genRow struct{ ev, data, ctx string }

// genLog produces a realistic SMTP protocol log: header, then many
// interleaved sessions mixing successes, NoCredentials / UnknownCredentials
// / SocketError failures, condensed certificate rows, 454 4.7.5, and
// receive-side EmptyCertificate sessions.
func genLog(o genOptions) []byte {
	r := rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))
	if o.Start.IsZero() {
		o.Start = time.Date(2019, 5, 2, 6, 0, 0, 0, time.UTC)
	}
	if o.Interleave <= 0 {
		o.Interleave = 8
	}
	var b bytes.Buffer
	logType := "SMTP Send Protocol Log"
	if o.Direction == DirectionReceive {
		logType = "SMTP Receive Protocol Log"
	}
	fmt.Fprintf(&b, "#Software: Microsoft Exchange Server\r\n#Version: 15.02.0986.005\r\n#Log-Type: %s\r\n#Date: %s\r\n#Fields: date-time,connector-id,session-id,sequence-number,local-endpoint,remote-endpoint,event,data,context\r\n",
		logType, o.Start.Format("2006-01-02T15:04:05.000Z"))
	type live struct {
		id, conn, local, remote string
		rows                    []genRow
		next                    int
	}
	var act []*live
	made := 0
	now := o.Start
	for made < o.Sessions || len(act) > 0 {
		for len(act) < o.Interleave && made < o.Sessions {
			made++
			l := &live{id: fmt.Sprintf("08D6CE8F%08X", r.Uint32()), rows: genSession(r, o.Direction)}
			if o.Direction == DirectionReceive {
				l.conn = "EDGE01\\Default internal receive connector EDGE01"
				l.local = "10.0.0.5:25"
				l.remote = fmt.Sprintf("40.107.%d.%d:%d", r.IntN(256), r.IntN(256), 1024+r.IntN(60000))
			} else {
				l.conn = []string{"Outbound to Office 365", "EdgeSync - Default-First-Site-Name to Internet", "Partner, Inc. (TLS)"}[r.IntN(3)]
				l.local = fmt.Sprintf("10.0.0.5:%d", 1024+r.IntN(60000))
				l.remote = fmt.Sprintf("104.47.%d.%d:25", r.IntN(256), r.IntN(256))
			}
			act = append(act, l)
		}
		i := r.IntN(len(act))
		l := act[i]
		row := l.rows[l.next]
		now = now.Add(time.Duration(r.IntN(3000)) * time.Microsecond)
		local := l.local
		if l.next == 0 && o.Direction != DirectionReceive {
			local = ""
		}
		fmt.Fprintf(&b, "%s,%s,%s,%d,%s,%s,%s,%s,%s\r\n", now.Format("2006-01-02T15:04:05.000Z"), csvQuote(l.conn), l.id, l.next,
			local, l.remote, row.ev, csvQuote(row.data), csvQuote(row.ctx))
		l.next++
		if l.next == len(l.rows) {
			act[i] = act[len(act)-1]
			act = act[:len(act)-1]
		}
	}
	return b.Bytes()
}

const (
	genThumbOK  = "3C1F8E6A9B2D4C5E6F708192A3B4C5D6E7F80912"
	genThumbBad = "B79D6C2E1A0F4B3C8D9E7F6A5B4C3D2E1F0A9B8C"
	genSubject  = "CN=mail.contoso.com, O=Contoso, L=Amsterdam, C=NL"
	genIssuer   = "CN=DigiCert SHA2 Secure Server CA, O=DigiCert Inc, C=US"
)

func genCertBlock(label, thumb string) []genRow {
	return []genRow{
		{"*", "", label},
		{"*", genSubject, "Certificate subject"},
		{"*", genIssuer, "Certificate issuer name"},
		{"*", "0A1B2C3D4E5F60718293A4B5C6D7E8F9", "Certificate serial number"},
		{"*", thumb, "Certificate thumbprint"},
		{"*", "mail.contoso.com;autodiscover.contoso.com", "Certificate alternate names"},
	}
}

const genSuccess = "TLS protocol SP_PROT_TLS1_2_CLIENT negotiation succeeded using bulk encryption algorithm CALG_AES_256 with strength 256 bits, MAC hash algorithm CALG_SHA_384 with strength 0 bits and key exchange algorithm CALG_ECDH_EPHEM with strength 384 bits"

func genSession(r *rand.Rand, dir Direction) []genRow {
	if dir == DirectionReceive {
		rows := []genRow{
			{"+", "", ""},
			{"*", "SMTPSubmit SMTPAcceptAnyRecipient SMTPAcceptAnySender SMTPAcceptAuthoritativeDomainSender AcceptRoutingHeaders", "Set Session Permissions"},
			{">", "220 EDGE01.contoso.com Microsoft ESMTP MAIL Service ready at Thu, 2 May 2019 06:32:09 +0000", ""},
			{"<", "EHLO NAM12-DM6-obe.outbound.protection.outlook.com", ""},
			{">", "250  EDGE01.contoso.com Hello [40.107.1.2] SIZE 37748736 PIPELINING DSN ENHANCEDSTATUSCODES STARTTLS X-ANONYMOUSTLS AUTH NTLM 8BITMIME BINARYMIME CHUNKING XRDST", ""},
			{"<", "STARTTLS", ""},
			{">", "220 2.0.0 SMTP server ready", ""},
		}
		rows = append(rows, genCertBlock("Sending certificate", genThumbOK)...)
		rows = append(rows,
			genRow{"*", "", "TLS protocol SP_PROT_TLS1_2_SERVER negotiation succeeded using bulk encryption algorithm CALG_AES_256 with strength 256 bits, MAC hash algorithm CALG_SHA_384 with strength 0 bits and key exchange algorithm CALG_ECDH_EPHEM with strength 384 bits"},
		)
		if r.IntN(3) == 0 {
			rows = append(rows,
				genRow{"*", "", "Client certificate chain validation status: 'EmptyCertificate'"},
				genRow{"*", "TlsDomainCapabilities='None'; Status='NoRemoteCertificate'; Domain=''", "TlsDomainCapabilities"},
			)
		} else {
			rows = append(rows, genCertBlock("Remote certificate", "9F8E7D6C5B4A39281706F5E4D3C2B1A098765432")...)
		}
		rows = append(rows,
			genRow{"<", "EHLO NAM12-DM6-obe.outbound.protection.outlook.com", ""},
			genRow{"<", "MAIL FROM:<alice@fabrikam.com> SIZE=23456", ""},
			genRow{"<", "RCPT TO:<bob@contoso.com>", ""},
			genRow{"*", "08D6CE8F0A2C3B11;2019-05-02T06:32:10.118Z;1", "receiving message"},
			genRow{">", "250 2.6.0 <DM6PR12MB1234.namprd12.prod.outlook.com> [InternalId=1234, Hostname=EDGE01] Queued mail for delivery", ""},
			genRow{"<", "QUIT", ""},
			genRow{">", "221 2.0.0 Service closing transmission channel", ""},
			genRow{"-", "", "Local"},
		)
		return rows
	}
	rows := []genRow{
		{"*", "", "attempting to connect"},
		{"+", "", ""},
		{"<", "220 AM5EUR03FT012.mail.protection.outlook.com Microsoft ESMTP MAIL Service ready at Thu, 2 May 2019 06:32:09 +0000", ""},
		{">", "EHLO edge2019.contoso.com", ""},
		{"<", "250-AM5EUR03FT012.mail.protection.outlook.com Hello [203.0.113.10]", ""},
		{"<", "250-SIZE 157286400", ""},
		{"<", "250-PIPELINING", ""},
		{"<", "250-DSN", ""},
		{"<", "250-ENHANCEDSTATUSCODES", ""},
		{"<", "250-STARTTLS", ""},
		{"<", "250-8BITMIME", ""},
		{"<", "250-BINARYMIME", ""},
		{"<", "250 CHUNKING", ""},
		{">", "STARTTLS", ""},
		{"<", "220 2.0.0 SMTP server ready", ""},
	}
	switch k := r.IntN(10); {
	case k < 6: // success
		rows = append(rows, genCertBlock("Sending certificate", genThumbOK)...)
		rows = append(rows, genRow{"*", "", genSuccess})
		rows = append(rows, genCertBlock("Remote certificate", "7A6B5C4D3E2F1A0B9C8D7E6F5A4B3C2D1E0F9A8B")...)
		rows = append(rows,
			genRow{">", "EHLO edge2019.contoso.com", ""},
			genRow{"<", "250-AM5EUR03FT012.mail.protection.outlook.com Hello [203.0.113.10]", ""},
			genRow{"<", "250 CHUNKING", ""},
			genRow{"*", "", "sending message with RecordId 51539607553 and InternetMessageId <abc@contoso.com>"},
			genRow{">", "MAIL FROM:<alice@contoso.com> SIZE=5432", ""},
			genRow{">", "RCPT TO:<bob@fabrikam.onmicrosoft.com>", ""},
			genRow{"<", "250 2.1.0 Sender OK", ""},
			genRow{"<", "250 2.1.5 Recipient OK", ""},
			genRow{">", "BDAT 5432 LAST", ""},
			genRow{"<", "250 2.6.0 <abc@contoso.com> [InternalId=12345, Hostname=AM5EUR03FT012.eop-EUR03.prod.protection.outlook.com] 5432 bytes in 0.150, 35.2 KB/sec Queued mail for delivery", ""},
			genRow{">", "QUIT", ""},
			genRow{"<", "221 2.0.0 Service closing transmission channel", ""},
		)
	case k < 8: // keyless certificate
		rows = append(rows, genCertBlock("Sending certificate", genThumbBad)...)
		rows = append(rows, genRow{"*", "", "TLS negotiation failed with error NoCredentials"})
	case k < 9: // condensed certificate row, UnknownCredentials
		rows = append(rows,
			genRow{"*", genSubject + " " + genIssuer + " 0A1B2C3D4E5F60718293A4B5C6D7E8F9 " + genThumbBad + " 5/1/2019 12:00:00 AM 5/1/2021 12:00:00 PM mail.contoso.com;autodiscover.contoso.com",
				"Sending certificate Subject Issuer name Serial number Thumbprint Not before Not after Subject alternate names"},
			genRow{"*", "", "TLS negotiation failed with error UnknownCredentials"})
	default:
		rows = rows[:14] // up to STARTTLS
		rows = append(rows, genRow{"<", "454 4.7.5 The certificate specified in TlsCertificateName of the SendConnector could not be found.", ""})
	}
	return append(rows, genRow{"-", "", "Local"})
}
