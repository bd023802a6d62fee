// Package api serves mxprobe.v1.ControllerService over gRPC and, through an
// in-process grpc-gateway mux, as REST/JSON on the HTTP port, together with
// /openapi.json, /healthz, /readyz and /metrics.
//
// Every request on the HTTP port passes bodylimit.go first: the gateway
// decodes a whole body before the gRPC interceptors authenticate the call,
// so a body is read only from a caller with a valid token, only up to
// BodyLimits and only for so long; authorization stays with the gRPC
// interceptors, per method.
package api
