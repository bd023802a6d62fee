package api

import (
	"encoding/base64"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
)

// pageSize validates a requested page size: 0 means def, larger than max is
// capped, negative is an error.
func pageSize(requested int32, def, max int) (int, error) {
	switch size := int(requested); {
	case size < 0:
		return 0, status.Error(codes.InvalidArgument, "page_size: must not be negative")
	case size == 0:
		return def, nil
	case size > max:
		return max, nil
	default:
		return size, nil
	}
}

// shortFields refuses listing filters longer than 128 characters (names,
// ids and codes are all shorter).
func shortFields(fields map[string]string) error {
	for name, v := range fields {
		if len(v) > 128 {
			return status.Errorf(codes.InvalidArgument, "%s: longer than 128 characters", name)
		}
	}
	return nil
}

// Incident and delivery page tokens are the last key of the page (keyed
// cursors): an incident that appears or disappears elsewhere in the list
// never shifts the next page. A token whose position is at or past the end
// of the list is an error (the list changed under a stale token, or the
// token was forged): start again without one.

const (
	incidentTokenPrefix = "i1:"
	deliveryTokenPrefix = "d1:"
)

var errBadToken = status.Error(codes.InvalidArgument, "page_token: not a token this API issued")

func errPastEnd() error {
	return status.Error(codes.InvalidArgument, "page_token: past the end of the list (the listing changed or the token is stale): list again without a token")
}

func encodeIncidentToken(k incident.PageKey) string {
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%s%d:%d:%s", incidentTokenPrefix, k.Severity, k.FirstSeen, k.ID))
}

func decodeIncidentToken(tok string) (incident.PageKey, bool, error) {
	if tok == "" {
		return incident.PageKey{}, false, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || !strings.HasPrefix(string(b), incidentTokenPrefix) {
		return incident.PageKey{}, false, errBadToken
	}
	parts := strings.SplitN(strings.TrimPrefix(string(b), incidentTokenPrefix), ":", 3)
	if len(parts) != 3 {
		return incident.PageKey{}, false, errBadToken
	}
	sev, err1 := strconv.ParseInt(parts[0], 10, 32)
	fs, err2 := strconv.ParseInt(parts[1], 10, 64)
	if err1 != nil || err2 != nil || parts[2] == "" {
		return incident.PageKey{}, false, errBadToken
	}
	return incident.PageKey{Severity: mxv1.Severity(sev), FirstSeen: fs, ID: parts[2]}, true, nil
}

// incidentPage cuts the page after key from incidents sorted by
// incident.Less.
func incidentPage(all []*mxv1.Incident, tok string, size int) (page []*mxv1.Incident, next string, err error) {
	key, ok, err := decodeIncidentToken(tok)
	if err != nil {
		return nil, "", err
	}
	start := 0
	if ok {
		start = sort.Search(len(all), func(i int) bool { return key.Less(incident.KeyOf(all[i])) })
		if start >= len(all) {
			return nil, "", errPastEnd()
		}
	}
	end := min(start+size, len(all))
	page = all[start:end]
	if end < len(all) {
		next = encodeIncidentToken(incident.KeyOf(all[end-1]))
	}
	return page, next, nil
}

func encodeDeliveryToken(order uint64) string {
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%s%d", deliveryTokenPrefix, order))
}

func decodeDeliveryToken(tok string) (uint64, bool, error) {
	if tok == "" {
		return 0, false, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || !strings.HasPrefix(string(b), deliveryTokenPrefix) {
		return 0, false, errBadToken
	}
	after, err := strconv.ParseUint(strings.TrimPrefix(string(b), deliveryTokenPrefix), 10, 64)
	if err != nil {
		return 0, false, errBadToken
	}
	return after, true, nil
}

// deliveryPage cuts the page after the token's enqueue order from
// deliveries sorted by it.
func deliveryPage(all []*mxv1.Delivery, tok string, size int) (page []*mxv1.Delivery, next string, err error) {
	start := 0
	after, ok, err := decodeDeliveryToken(tok)
	if err != nil {
		return nil, "", err
	}
	if ok {
		start = sort.Search(len(all), func(i int) bool { return all[i].GetOrder() > after })
		if start >= len(all) {
			return nil, "", errPastEnd()
		}
	}
	end := min(start+size, len(all))
	page = all[start:end]
	if end < len(all) {
		next = encodeDeliveryToken(all[end-1].GetOrder())
	}
	return page, next, nil
}
