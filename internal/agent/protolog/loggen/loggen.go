// Package loggen writes synthetic Exchange SMTP protocol logs for tests and
// benchmarks: the header Exchange writes, then many interleaved sessions
// mixing TLS successes, NoCredentials / UnknownCredentials failures,
// condensed certificate rows, 454 4.7.5 replies (send side) and
// EmptyCertificate sessions (receive side), in the proportions a busy Edge
// server logs them. Output is deterministic for a seed and streamed, so a
// benchmark can write a file of any size with constant memory.
package loggen

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// Options controls the generator.
type Options struct {
	// Receive writes a receive log (SmtpReceive); otherwise a send log.
	Receive bool
	// Sessions is how many sessions to write; with Bytes > 0 the generator
	// stops at the first session end past Bytes instead.
	Sessions int
	// Bytes, when > 0, is the size to reach (sessions still end cleanly).
	Bytes int64
	// Interleave is how many sessions are in flight at once (default 8).
	Interleave int
	Seed       uint64
	// Start is the first timestamp (default 2019-05-02T06:00:00Z).
	Start time.Time
	// PartnerFails makes every session of the send connector "Partner,
	// Inc. (TLS)" fail (its certificate has no usable key), so the log's
	// diagnosis keeps a failure that no later success clears.
	PartnerFails bool
}

// Generate returns a whole log in memory (small logs; see Write).
func Generate(o Options) []byte {
	var b strings.Builder
	if err := Write(&b, o); err != nil {
		panic(err) // strings.Builder does not fail
	}
	return []byte(b.String())
}

// Write streams a log to w and returns the first write error.
func Write(w io.Writer, o Options) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	g := gen{r: rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15)), o: o}
	g.run(bw)
	return bw.Flush()
}

type row struct{ ev, data, ctx string }

type live struct {
	id, conn, local, remote string
	rows                    []row
	next                    int
}

type gen struct {
	r       *rand.Rand
	o       Options
	written int64
}

// quote quotes a value the way Exchange does (RFC 4180, only if needed).
func quote(buf []byte, s string) []byte {
	if !strings.ContainsAny(s, ",\"\r\n") {
		return append(buf, s...)
	}
	buf = append(buf, '"')
	buf = append(buf, strings.ReplaceAll(s, `"`, `""`)...)
	return append(buf, '"')
}

func (g *gen) run(w *bufio.Writer) {
	o := g.o
	r := g.r
	if o.Start.IsZero() {
		o.Start = time.Date(2019, 5, 2, 6, 0, 0, 0, time.UTC)
	}
	if o.Interleave <= 0 {
		o.Interleave = 8
	}
	logType := "SMTP Send Protocol Log"
	if o.Receive {
		logType = "SMTP Receive Protocol Log"
	}
	n, _ := fmt.Fprintf(w, "#Software: Microsoft Exchange Server\r\n#Version: 15.02.0986.005\r\n#Log-Type: %s\r\n#Date: %s\r\n#Fields: date-time,connector-id,session-id,sequence-number,local-endpoint,remote-endpoint,event,data,context\r\n",
		logType, o.Start.Format("2006-01-02T15:04:05.000Z"))
	g.written += int64(n)
	more := func(made int) bool {
		if o.Bytes > 0 {
			return g.written < o.Bytes
		}
		return made < o.Sessions
	}
	var act []*live
	made := 0
	now := o.Start
	var line []byte
	for more(made) || len(act) > 0 {
		for len(act) < o.Interleave && more(made) {
			made++
			l := &live{id: fmt.Sprintf("08D6CE8F%08X", r.Uint32())}
			if o.Receive {
				l.conn = "EDGE01\\Default internal receive connector EDGE01"
				l.local = "10.0.0.5:25"
				l.remote = fmt.Sprintf("40.107.%d.%d:%d", r.IntN(256), r.IntN(256), 1024+r.IntN(60000))
			} else {
				l.conn = []string{"Outbound to Office 365", "EdgeSync - Default-First-Site-Name to Internet", partner}[r.IntN(3)]
				l.local = fmt.Sprintf("10.0.0.5:%d", 1024+r.IntN(60000))
				l.remote = fmt.Sprintf("104.47.%d.%d:25", r.IntN(256), r.IntN(256))
			}
			l.rows = session(r, o.Receive, o.PartnerFails && l.conn == partner)
			act = append(act, l)
		}
		i := r.IntN(len(act))
		l := act[i]
		rw := l.rows[l.next]
		now = now.Add(time.Duration(r.IntN(3000)) * time.Microsecond)
		local := l.local
		if l.next == 0 && !o.Receive {
			local = ""
		}
		line = now.AppendFormat(line[:0], "2006-01-02T15:04:05.000Z")
		line = append(line, ',')
		line = quote(line, l.conn)
		line = append(line, ',')
		line = append(line, l.id...)
		line = append(line, ',')
		line = strconv.AppendInt(line, int64(l.next), 10)
		line = append(line, ',')
		line = append(line, local...)
		line = append(line, ',')
		line = append(line, l.remote...)
		line = append(line, ',')
		line = append(line, rw.ev...)
		line = append(line, ',')
		line = quote(line, rw.data)
		line = append(line, ',')
		line = quote(line, rw.ctx)
		line = append(line, '\r', '\n')
		n, _ := w.Write(line)
		g.written += int64(n)
		l.next++
		if l.next == len(l.rows) {
			act[i] = act[len(act)-1]
			act = act[:len(act)-1]
		}
	}
}

// Thumbprints and names the generated sessions use.
const (
	ThumbOK  = "3C1F8E6A9B2D4C5E6F708192A3B4C5D6E7F80912"
	ThumbBad = "B79D6C2E1A0F4B3C8D9E7F6A5B4C3D2E1F0A9B8C"
	Subject  = "CN=mail.contoso.com, O=Contoso, L=Amsterdam, C=NL"
	Issuer   = "CN=DigiCert SHA2 Secure Server CA, O=DigiCert Inc, C=US"
)

// FailureText is the row every failed send session carries; a benchmark
// greps for it.
const FailureText = "TLS negotiation failed"

func certBlock(label, thumb string) []row {
	return []row{
		{"*", "", label},
		{"*", Subject, "Certificate subject"},
		{"*", Issuer, "Certificate issuer name"},
		{"*", "0A1B2C3D4E5F60718293A4B5C6D7E8F9", "Certificate serial number"},
		{"*", thumb, "Certificate thumbprint"},
		{"*", "mail.contoso.com;autodiscover.contoso.com", "Certificate alternate names"},
	}
}

const success = "TLS protocol SP_PROT_TLS1_2_CLIENT negotiation succeeded using bulk encryption algorithm CALG_AES_256 with strength 256 bits, MAC hash algorithm CALG_SHA_384 with strength 0 bits and key exchange algorithm CALG_ECDH_EPHEM with strength 384 bits"

const partner = "Partner, Inc. (TLS)"

func session(r *rand.Rand, receive, fail bool) []row {
	if receive {
		rows := []row{
			{"+", "", ""},
			{"*", "SMTPSubmit SMTPAcceptAnyRecipient SMTPAcceptAnySender SMTPAcceptAuthoritativeDomainSender AcceptRoutingHeaders", "Set Session Permissions"},
			{">", "220 EDGE01.contoso.com Microsoft ESMTP MAIL Service ready at Thu, 2 May 2019 06:32:09 +0000", ""},
			{"<", "EHLO NAM12-DM6-obe.outbound.protection.outlook.com", ""},
			{">", "250  EDGE01.contoso.com Hello [40.107.1.2] SIZE 37748736 PIPELINING DSN ENHANCEDSTATUSCODES STARTTLS X-ANONYMOUSTLS AUTH NTLM 8BITMIME BINARYMIME CHUNKING XRDST", ""},
			{"<", "STARTTLS", ""},
			{">", "220 2.0.0 SMTP server ready", ""},
		}
		rows = append(rows, certBlock("Sending certificate", ThumbOK)...)
		rows = append(rows,
			row{"*", "", "TLS protocol SP_PROT_TLS1_2_SERVER negotiation succeeded using bulk encryption algorithm CALG_AES_256 with strength 256 bits, MAC hash algorithm CALG_SHA_384 with strength 0 bits and key exchange algorithm CALG_ECDH_EPHEM with strength 384 bits"},
		)
		if r.IntN(3) == 0 {
			rows = append(rows,
				row{"*", "", "Client certificate chain validation status: 'EmptyCertificate'"},
				row{"*", "TlsDomainCapabilities='None'; Status='NoRemoteCertificate'; Domain=''", "TlsDomainCapabilities"},
			)
		} else {
			rows = append(rows, certBlock("Remote certificate", "9F8E7D6C5B4A39281706F5E4D3C2B1A098765432")...)
		}
		rows = append(rows,
			row{"<", "EHLO NAM12-DM6-obe.outbound.protection.outlook.com", ""},
			row{"<", "MAIL FROM:<alice@fabrikam.com> SIZE=23456", ""},
			row{"<", "RCPT TO:<bob@contoso.com>", ""},
			row{"*", "08D6CE8F0A2C3B11;2019-05-02T06:32:10.118Z;1", "receiving message"},
			row{">", "250 2.6.0 <DM6PR12MB1234.namprd12.prod.outlook.com> [InternalId=1234, Hostname=EDGE01] Queued mail for delivery", ""},
			row{"<", "QUIT", ""},
			row{">", "221 2.0.0 Service closing transmission channel", ""},
			row{"-", "", "Local"},
		)
		return rows
	}
	rows := []row{
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
	k := r.IntN(10)
	if fail && (k < 6 || k >= 9) {
		k = 6 + k%3
	}
	switch {
	case k < 6: // success
		rows = append(rows, certBlock("Sending certificate", ThumbOK)...)
		rows = append(rows, row{"*", "", success})
		rows = append(rows, certBlock("Remote certificate", "7A6B5C4D3E2F1A0B9C8D7E6F5A4B3C2D1E0F9A8B")...)
		rows = append(rows,
			row{">", "EHLO edge2019.contoso.com", ""},
			row{"<", "250-AM5EUR03FT012.mail.protection.outlook.com Hello [203.0.113.10]", ""},
			row{"<", "250 CHUNKING", ""},
			row{"*", "", "sending message with RecordId 51539607553 and InternetMessageId <abc@contoso.com>"},
			row{">", "MAIL FROM:<alice@contoso.com> SIZE=5432", ""},
			row{">", "RCPT TO:<bob@fabrikam.onmicrosoft.com>", ""},
			row{"<", "250 2.1.0 Sender OK", ""},
			row{"<", "250 2.1.5 Recipient OK", ""},
			row{">", "BDAT 5432 LAST", ""},
			row{"<", "250 2.6.0 <abc@contoso.com> [InternalId=12345, Hostname=AM5EUR03FT012.eop-EUR03.prod.protection.outlook.com] 5432 bytes in 0.150, 35.2 KB/sec Queued mail for delivery", ""},
			row{">", "QUIT", ""},
			row{"<", "221 2.0.0 Service closing transmission channel", ""},
		)
	case k < 8: // keyless certificate
		rows = append(rows, certBlock("Sending certificate", ThumbBad)...)
		rows = append(rows, row{"*", "", "TLS negotiation failed with error NoCredentials"})
	case k < 9: // condensed certificate row, UnknownCredentials
		rows = append(rows,
			row{"*", Subject + " " + Issuer + " 0A1B2C3D4E5F60718293A4B5C6D7E8F9 " + ThumbBad + " 5/1/2019 12:00:00 AM 5/1/2021 12:00:00 PM mail.contoso.com;autodiscover.contoso.com",
				"Sending certificate Subject Issuer name Serial number Thumbprint Not before Not after Subject alternate names"},
			row{"*", "", "TLS negotiation failed with error UnknownCredentials"})
	default:
		rows = rows[:14] // up to STARTTLS
		rows = append(rows, row{"<", "454 4.7.5 The certificate specified in TlsCertificateName of the SendConnector could not be found.", ""})
	}
	return append(rows, row{"-", "", "Local"})
}
