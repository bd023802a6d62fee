package tlsrpt

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/text"
)

// Bounds of an accepted report. Real reports are a few kilobytes: these
// leave room for large senders and stop hostile ones.
const (
	// MaxReportBytes bounds a report's JSON (after decompression).
	MaxReportBytes = 4 << 20
	// MaxCompressedBytes bounds a compressed body or a mail attachment.
	MaxCompressedBytes = 1 << 20
	// MaxMailBytes bounds a mail message carrying a report.
	MaxMailBytes = 2 * MaxCompressedBytes
	// MaxInputBytes is the largest input Parse accepts in any form (plain
	// JSON): what a caller reading a report for Parse must let through.
	MaxInputBytes = max(MaxReportBytes, MaxCompressedBytes, MaxMailBytes)
	MaxPolicies   = 256
	MaxFailures   = 256 // per policy
	MaxStrings    = 32  // policy-string lines, mx-host patterns
	maxField      = 1024
	maxMIMEParts  = 32
	maxMIMEDepth  = 4
)

// Sentinel errors; returned errors wrap them.
var (
	// ErrInvalid: the input is not a valid RFC 8460 report.
	ErrInvalid = errors.New("tlsrpt: invalid report")
	// ErrTooLarge: the input (or what it decompresses to) exceeds the bounds.
	ErrTooLarge = errors.New("tlsrpt: report too large")
	// ErrNoReport: a mail message carries no report attachment.
	ErrNoReport = errors.New("tlsrpt: no report in the message")
)

// ResultTypes are the RFC 8460 section 4.3 result types (IANA registry).
var ResultTypes = []string{
	"starttls-not-supported", "certificate-host-mismatch", "certificate-expired", "certificate-not-trusted",
	"validation-failure", "tlsa-invalid", "dnssec-invalid", "dane-required", "sts-policy-fetch-error",
	"sts-policy-invalid", "sts-webpki-invalid",
}

// ParseJSON parses and validates a report's JSON.
func ParseJSON(b []byte) (*mxv1.TLSReport, error) {
	if len(b) > MaxReportBytes {
		return nil, fmt.Errorf("%w: %d bytes of JSON, at most %d", ErrTooLarge, len(b), MaxReportBytes)
	}
	var jr jsonReport
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&jr); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the report object", ErrInvalid)
	}
	r := &mxv1.TLSReport{}
	var err error
	if r.ReportId, err = field("report-id", jr.ReportID, true); err != nil {
		return nil, err
	}
	if r.OrganizationName, err = field("organization-name", jr.OrganizationName, true); err != nil {
		return nil, err
	}
	if r.ContactInfo, err = field("contact-info", jr.ContactInfo, false); err != nil {
		return nil, err
	}
	start, err := parseTime("start-datetime", jr.DateRange.Start)
	if err != nil {
		return nil, err
	}
	end, err := parseTime("end-datetime", jr.DateRange.End)
	if err != nil {
		return nil, err
	}
	if end.Before(start) || end.Sub(start) > 31*24*time.Hour {
		return nil, fmt.Errorf("%w: date-range %s to %s", ErrInvalid, jr.DateRange.Start, jr.DateRange.End)
	}
	r.Start, r.End = timestamppb.New(start), timestamppb.New(end)
	if len(jr.Policies) == 0 {
		return nil, fmt.Errorf("%w: no policies", ErrInvalid)
	}
	if len(jr.Policies) > MaxPolicies {
		return nil, fmt.Errorf("%w: %d policies, at most %d", ErrTooLarge, len(jr.Policies), MaxPolicies)
	}
	for i, jp := range jr.Policies {
		p := &mxv1.TLSReportPolicy{}
		switch t := strings.ToLower(strings.TrimSpace(jp.Policy.Type)); t {
		case "sts", "tlsa", "no-policy-found":
			p.PolicyType = t
		default:
			return nil, fmt.Errorf("%w: policies[%d]: policy-type %q", ErrInvalid, i, text.Clip(jp.Policy.Type, 64))
		}
		d, err := field("policy-domain", jp.Policy.Domain, true)
		if err != nil {
			return nil, fmt.Errorf("policies[%d]: %w", i, err)
		}
		p.PolicyDomain = strings.ToLower(strings.TrimSuffix(d, "."))
		if p.PolicyStrings, err = stringList("policy-string", jp.Policy.Strings); err != nil {
			return nil, fmt.Errorf("policies[%d]: %w", i, err)
		}
		if p.MxHosts, err = stringList("mx-host", jp.Policy.MXHost); err != nil {
			return nil, fmt.Errorf("policies[%d]: %w", i, err)
		}
		if jp.Summary.Success == nil || jp.Summary.Failure == nil {
			return nil, fmt.Errorf("%w: policies[%d]: summary needs total-successful-session-count and total-failure-session-count", ErrInvalid, i)
		}
		p.SuccessfulSessions, p.FailedSessions = *jp.Summary.Success, *jp.Summary.Failure
		for j, jf := range jp.Failures {
			if j >= MaxFailures {
				break // the summary keeps the totals
			}
			f := &mxv1.TLSReportFailure{ResultType: strings.ToLower(strings.TrimSpace(jf.ResultType)), FailedSessions: jf.Count}
			if f.ResultType == "" || len(f.ResultType) > 64 {
				return nil, fmt.Errorf("%w: policies[%d].failure-details[%d]: result-type %q", ErrInvalid, i, j, text.Clip(jf.ResultType, 64))
			}
			for _, x := range []struct {
				name string
				in   string
				out  *string
			}{{"sending-mta-ip", jf.SendingIP, &f.SendingMtaIp}, {"receiving-mx-hostname", jf.MXHostname, &f.ReceivingMxHostname},
				{"receiving-mx-helo", jf.MXHelo, &f.ReceivingMxHelo}, {"receiving-ip", jf.ReceivingIP, &f.ReceivingIp},
				{"additional-information", jf.Info, &f.AdditionalInformation}, {"failure-reason-code", jf.FailureCode, &f.FailureReasonCode}} {
				if *x.out, err = field(x.name, x.in, false); err != nil {
					return nil, fmt.Errorf("policies[%d].failure-details[%d]: %w", i, j, err)
				}
			}
			f.ReceivingMxHostname = strings.ToLower(strings.TrimSuffix(f.ReceivingMxHostname, "."))
			p.Failures = append(p.Failures, f)
		}
		r.Policies = append(r.Policies, p)
	}
	return r, nil
}

func field(name, v string, required bool) (string, error) {
	v = strings.TrimSpace(v)
	switch {
	case required && v == "":
		return "", fmt.Errorf("%w: %s is required", ErrInvalid, name)
	case len(v) > maxField:
		return "", fmt.Errorf("%w: %s longer than %d bytes", ErrInvalid, name, maxField)
	case !utf8.ValidString(v) || strings.ContainsRune(v, 0):
		return "", fmt.Errorf("%w: %s is not valid UTF-8 text", ErrInvalid, name)
	}
	return v, nil
}

// stringList accepts a JSON array of strings or a single string (some
// senders write mx-host as one string).
func stringList(name string, raw json.RawMessage) ([]string, error) {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return nil, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		var one string
		if err2 := json.Unmarshal(raw, &one); err2 != nil {
			return nil, fmt.Errorf("%w: %s is neither a string nor a list of strings", ErrInvalid, name)
		}
		list = []string{one}
	}
	var out []string
	for _, s := range list {
		if len(out) >= MaxStrings {
			break
		}
		v, err := field(name, s, false)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func parseTime(name, v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, strings.TrimSpace(v))
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %s %q is not an RFC 3339 time", ErrInvalid, name, text.Clip(v, 64))
	}
	return t.UTC(), nil
}

// Gunzip decompresses at most MaxReportBytes (a gzip bomb stops there with
// ErrTooLarge).
func Gunzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%w: gzip: %v", ErrInvalid, err)
	}
	defer zr.Close()
	out, err := io.ReadAll(io.LimitReader(zr, MaxReportBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: gzip: %v", ErrInvalid, err)
	}
	if len(out) > MaxReportBytes {
		return nil, fmt.Errorf("%w: decompresses to more than %d bytes", ErrTooLarge, MaxReportBytes)
	}
	return out, nil
}

// Parse reads a report in any of the forms senders use: JSON, gzip'd JSON
// (the HTTPS and mail attachments' application/tlsrpt+gzip), or a mail
// message (.eml) with the report attached (RFC 8460 section 5.3).
func Parse(b []byte) (*mxv1.TLSReport, error) {
	t := bytes.TrimLeft(b, " \t\r\n\xef\xbb\xbf")
	switch {
	case len(t) > 0 && t[0] == '{':
		return ParseJSON(t)
	case len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b:
		if len(b) > MaxCompressedBytes {
			return nil, fmt.Errorf("%w: %d compressed bytes, at most %d", ErrTooLarge, len(b), MaxCompressedBytes)
		}
		j, err := Gunzip(b)
		if err != nil {
			return nil, err
		}
		return ParseJSON(j)
	}
	return ParseMail(b)
}

// ParseMail finds the report attached to a mail message.
func ParseMail(b []byte) (*mxv1.TLSReport, error) {
	if len(b) > MaxMailBytes {
		return nil, fmt.Errorf("%w: message of %d bytes, at most %d", ErrTooLarge, len(b), MaxMailBytes)
	}
	m, err := mail.ReadMessage(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%w: not JSON, gzip or a mail message: %v", ErrInvalid, err)
	}
	parts := 0
	body, err := findReport(m.Header.Get("Content-Type"), m.Header.Get("Content-Transfer-Encoding"), "", m.Body, 0, &parts)
	if err != nil {
		return nil, err
	}
	return Parse(body)
}

func findReport(ctype, cte, filename string, body io.Reader, depth int, parts *int) ([]byte, error) {
	mt, params, _ := mime.ParseMediaType(ctype)
	mt = strings.ToLower(mt)
	if strings.HasPrefix(mt, "multipart/") {
		if depth >= maxMIMEDepth {
			return nil, fmt.Errorf("%w: MIME nesting deeper than %d", ErrInvalid, maxMIMEDepth)
		}
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				return nil, ErrNoReport
			}
			if err != nil {
				return nil, fmt.Errorf("%w: MIME: %v", ErrInvalid, err)
			}
			if *parts++; *parts > maxMIMEParts {
				return nil, fmt.Errorf("%w: more than %d MIME parts", ErrInvalid, maxMIMEParts)
			}
			out, err := findReport(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p.FileName(), p, depth+1, parts)
			if err == nil || !errors.Is(err, ErrNoReport) {
				return out, err
			}
		}
	}
	name := strings.ToLower(filename)
	if name == "" {
		name = strings.ToLower(params["name"])
	}
	isReport := mt == "application/tlsrpt+gzip" || mt == "application/tlsrpt+json" ||
		(mt == "application/gzip" || mt == "application/json" || mt == "application/octet-stream") &&
			(strings.HasSuffix(name, ".json") || strings.HasSuffix(name, ".json.gz") || strings.HasSuffix(name, ".gz"))
	if !isReport {
		return nil, ErrNoReport
	}
	var r io.Reader = io.LimitReader(body, MaxMailBytes)
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, newlineStripper{r})
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	}
	out, err := io.ReadAll(io.LimitReader(r, MaxCompressedBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: attachment %s: %v", ErrInvalid, filename, err)
	}
	if len(out) > MaxCompressedBytes {
		return nil, fmt.Errorf("%w: attachment larger than %d bytes", ErrTooLarge, MaxCompressedBytes)
	}
	return out, nil
}

// newlineStripper drops CR and LF so base64 lines decode as one stream.
type newlineStripper struct{ r io.Reader }

func (n newlineStripper) Read(p []byte) (int, error) {
	for {
		k, err := n.r.Read(p)
		j := 0
		for _, c := range p[:k] {
			if c != '\r' && c != '\n' && c != ' ' && c != '\t' {
				p[j] = c
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}
