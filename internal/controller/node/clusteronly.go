package node

import (
	"context"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/mxprobe/mxprobe/internal/tlsutil"
)

// clusterOnly refuses ClusterService calls from peers without a verified
// cluster certificate (the gRPC port is shared with agents and API clients).
func clusterOnly(m *tlsutil.Mutual) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if strings.HasPrefix(info.FullMethod, "/mxprobe.v1.ClusterService/") {
			p, ok := peer.FromContext(ctx)
			ti, tok := p.AuthInfo.(credentials.TLSInfo)
			if !ok || !tok || len(ti.State.VerifiedChains) == 0 || tlsutil.VerifyChain(ti.State.PeerCertificates, m.Pool) != nil {
				return nil, status.Error(codes.PermissionDenied, "cluster calls need the cluster certificate")
			}
		}
		return h(ctx, req)
	}
}
