package api

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
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
