package api

import (
	"context"
	"crypto/sha256"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/auth"
)

// ReplayedHeader is the response header (gRPC metadata; REST:
// Idempotent-Replayed) of a write answered from its idempotency key.
const ReplayedHeader = "idempotent-replayed"

// ReasonIdempotencyKeyReused: the same key came with another request (422).
const ReasonIdempotencyKeyReused = "IDEMPOTENCY_KEY_REUSED"

// validIdempotencyKey: 1 to 255 visible ASCII characters.
func validIdempotencyKey(key string) bool {
	return key != "" && len(key) <= 255 && !strings.ContainsFunc(key, func(c rune) bool { return c < 0x21 || c > 0x7e })
}

// idempotency turns a request's key into its replicated form: the scope
// binds the key to the caller (API token name) and the method, the digest
// to the request without the key. Nil when the request has no key.
func idempotency(ctx context.Context, method, key string, req proto.Message) (*mxv1.Idempotency, error) {
	if key == "" {
		return nil, nil
	}
	if !validIdempotencyKey(key) {
		return nil, status.Error(codes.InvalidArgument, "idempotency_key: 1 to 255 visible ASCII characters")
	}
	scope := sha256.Sum256([]byte(auth.Actor(ctx) + "\n" + method + "\n" + key))
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(req)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "idempotency: %v", err)
	}
	digest := sha256.Sum256(b)
	return &mxv1.Idempotency{Scope: scope[:], RequestDigest: digest[:]}, nil
}

// withoutKey returns a copy of req with its idempotency_key cleared.
func withoutKey[M proto.Message](req M, clear func(M)) M {
	c := proto.Clone(req).(M)
	clear(c)
	return c
}

// markReplayed tells the caller that nothing was done again.
func markReplayed(ctx context.Context, replayed bool) {
	if replayed {
		_ = grpc.SetHeader(ctx, metadata.Pairs(ReplayedHeader, "true"))
	}
}

// relayReplayed passes the leader's replayed header of a forwarded call on.
func relayReplayed(ctx context.Context, hdr metadata.MD) {
	markReplayed(ctx, len(hdr.Get(ReplayedHeader)) > 0)
}

func idempotencyConflict() error {
	st := status.New(codes.InvalidArgument, "idempotency key was already used with a different request")
	if d, err := st.WithDetails(&errdetails.ErrorInfo{Reason: ReasonIdempotencyKeyReused, Domain: errorDomain}); err == nil {
		st = d
	}
	return st.Err()
}
