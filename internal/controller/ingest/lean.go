package ingest

import (
	"context"

	"google.golang.org/protobuf/proto"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/agentport"
)

// LeanMethods are the AgentService calls an agent makes with its
// certificate, for the agent port's single-goroutine endpoint.
func (s *Server) LeanMethods() []agentport.Method {
	return []agentport.Method{
		{
			Name:       mxv1.AgentService_Connect_FullMethodName,
			NewRequest: func() proto.Message { return new(mxv1.ConnectRequest) },
			Open:       func(ctx context.Context) agentport.Session { return leanSession{s.NewSession(ctx)} },
		},
		{
			Name:       mxv1.AgentService_Renew_FullMethodName,
			NewRequest: func() proto.Message { return new(mxv1.RenewRequest) },
			Unary: func(ctx context.Context, req proto.Message) (proto.Message, error) {
				return s.Renew(ctx, req.(*mxv1.RenewRequest))
			},
			MaxRequest: 64 << 10,
		},
	}
}

type leanSession struct{ *Session }

func (l leanSession) Handle(ctx context.Context, req proto.Message) (proto.Message, bool, error) {
	resp, done, err := l.Session.Handle(ctx, req.(*mxv1.ConnectRequest))
	if resp == nil {
		return nil, done, err // no typed nil inside the interface
	}
	return resp, done, err
}
