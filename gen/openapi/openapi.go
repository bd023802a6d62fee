// Package openapi embeds the API's OpenAPI 3.0 document (scripts/gen.sh:
// protoc-gen-openapiv2 writes the Swagger 2.0 document from proto/, and
// tools/openapi converts it and adds the REST layer's headers, statuses,
// security scheme and the endpoints served outside the gateway). The
// controller serves it at /openapi.json.
package openapi

import _ "embed"

// JSON is the OpenAPI 3.0 document for every mxprobe service.
//
//go:embed mxprobe.openapi.json
var JSON []byte
