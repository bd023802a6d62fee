// Package api serves mxprobe.v1.ControllerService over gRPC and, through an
// in-process grpc-gateway mux, as REST/JSON on the HTTP port, together with
// /openapi.json, /healthz, /readyz and /metrics.
package api
