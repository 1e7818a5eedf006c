package posapi

import (
	"context"
	"net/http"
	"testing"
)

// The bridge for the external tests (package posapi_test): the exchange
// check of spec_test.go, for a client that only sees the exported API.

// ValidatingTransport is next with every exchange checked against
// openapi.yaml (and counted for TestMain's coverage).
func ValidatingTransport(tb testing.TB, next http.RoundTripper) http.RoundTripper {
	return &validatingTransport{spec: loadSpec(tb), tb: tb, next: next}
}

// WithMalformed marks a request as deliberately wrong: it is not checked
// against the document.
func WithMalformed(ctx context.Context) context.Context { return withMalformed(ctx) }
