package httpapi

import _ "embed"

// OpenAPI is the OpenAPI 3.1 description of this API, served at
// /api/openapi.yaml. This file's source, internal/httpapi/openapi.yaml, is
// the canonical copy; docs/openapi.yaml is a copy that TestOpenAPICopy
// keeps identical.
//
//go:embed openapi.yaml
var OpenAPI []byte
