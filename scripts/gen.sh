#!/usr/bin/env bash
# Regenerates gen/ from proto/ with buf and the protoc plugins pinned in
# tools/go.mod (plugins) and tools/buf/go.mod (buf). Offline: no BSR access.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bin/tools
GOFLAGS=-mod=mod go -C tools build -o ../bin/tools/ \
  google.golang.org/protobuf/cmd/protoc-gen-go \
  google.golang.org/grpc/cmd/protoc-gen-go-grpc \
  github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway \
  github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2
go -C tools/buf build -o ../../bin/tools/buf github.com/bufbuild/buf/cmd/buf
rm -rf gen/mxprobe gen/openapi/*.json
bin/tools/buf lint
bin/tools/buf generate
# OpenAPI 3 from the Swagger 2.0 the plugin writes, and the Go client the
# API tests call a controller with (tools/openapi: kin-openapi and
# oapi-codegen stay out of the product's go.mod).
go -C tools/openapi run . -in ../../gen/openapi/mxprobe.swagger.json -out ../../gen/openapi/mxprobe.openapi.json
(cd tools/openapi/client && go tool oapi-codegen -config oapi-codegen.yaml ../../../gen/openapi/mxprobe.openapi.json)
