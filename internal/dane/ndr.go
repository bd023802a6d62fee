package dane

import (
	"regexp"
	"strings"
)

// NDR is an Exchange Online DANE result code found in text (a queue's
// LastError, a protocol log reply, an NDR).
type NDR struct {
	// Code is the enhanced status code as written, e.g. "5.7.323".
	Code string
	// Result is the DANE result it names, e.g. "tlsa-invalid".
	Result string
	// Permanent: 5.x.x (the message bounced) rather than 4.x.x (deferred).
	Permanent bool
	// Text is the surrounding text (at most 200 bytes).
	Text string
}

// NDRResults maps the last digit of 4/5.7.32x to the result Exchange Online
// names (Microsoft Learn, "How SMTP DANE works" and "Email non-delivery
// reports in Exchange Online"):
//
//	4/5.7.321 starttls-not-supported: Destination mail server must support TLS to receive mail.
//	4/5.7.322 certificate-expired: Destination mail server's certificate is expired.
//	4/5.7.323 tlsa-invalid: The domain failed DANE validation.
//	4/5.7.324 dnssec-invalid: Destination domain returned invalid DNSSEC records.
//	4/5.7.325 certificate-host-mismatch: Remote certificate MUST have a common name or subject alternative name matching the hostname (DANE)
var NDRResults = map[byte]string{
	'1': "starttls-not-supported",
	'2': "certificate-expired",
	'3': "tlsa-invalid",
	'4': "dnssec-invalid",
	'5': "certificate-host-mismatch",
}

var ndrRe = regexp.MustCompile(`(?:^|[^0-9.])([45])\.7\.32([1-5])(?:[^0-9]|$)`)

// maxNDRText bounds the text FindNDRs scans.
const maxNDRText = 64 << 10

// FindNDRs returns the DANE result codes in text, each code once, in order
// of appearance. A code counts only when the result name it stands for is
// also in the text (or "DANE"/"DNSSEC" is), so an unrelated number such as
// a version "5.7.321" is not taken for one.
func FindNDRs(text string) []NDR {
	if len(text) > maxNDRText {
		text = text[:maxNDRText]
	}
	if !strings.Contains(text, ".7.32") { // what ndrRe needs: most replies are done here
		return nil
	}
	lower := strings.ToLower(text)
	var out []NDR
	seen := map[string]bool{}
	for _, m := range ndrRe.FindAllStringSubmatchIndex(text, -1) {
		class, digit := text[m[2]:m[3]], text[m[4]]
		code := class + ".7.32" + string(digit)
		if seen[code] {
			continue
		}
		result := NDRResults[digit]
		if !strings.Contains(lower, result) && !strings.Contains(lower, "dane") && !strings.Contains(lower, "dnssec") {
			continue
		}
		seen[code] = true
		lo, hi := max(0, m[2]-40), min(len(text), m[2]+160)
		out = append(out, NDR{Code: code, Result: result, Permanent: class == "5", Text: strings.TrimSpace(text[lo:hi])})
	}
	return out
}
