// Package openapi embeds the OpenAPI v2 document generated from proto/ by
// protoc-gen-openapiv2 (scripts/gen.sh). The controller serves it at /openapi.json.
package openapi

import _ "embed"

// JSON is the merged OpenAPI document for every mxprobe service.
//
//go:embed mxprobe.swagger.json
var JSON []byte
