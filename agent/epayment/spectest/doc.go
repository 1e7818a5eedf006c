// Package spectest validates HTTP requests and responses against the official
// Vipps MobilePay OpenAPI specs (shared/specs/), with
// github.com/getkin/kin-openapi. It is a test helper: import it only from
// _test.go files.
//
// It is used two ways:
//   - wrapping the http.RoundTripper of our API client ([Specs.Transport]),
//     so every request the client sends and every answer it gets is checked;
//   - wrapping the handler of our API simulator ([Specs.Handler]), so every
//     answer the simulator gives is checked.
//
// # Specs and wire paths
//
// Each spec is loaded once per test binary and prepared in memory (the files
// are never modified). A spec's servers all carry one base path, for example
// https://api.vipps.no/epayment for ePayment, whose paths are /v1/...: the
// path on the wire is /epayment/v1/.... Preparing a spec prepends that base
// path to every path of the spec and drops the servers, so the router matches
// the path on the wire whatever the scheme, host and port (a loopback
// httptest server works as well as api.vipps.no):
//
//	epayment-api.yaml          server path /epayment          → /epayment/v1/payments ...
//	access-token-api.yaml      server path (none)             → /accesstoken/get, /miami/v1/token
//	webhooks-api.yaml          server path /webhooks          → /webhooks/v1/webhooks ...
//	order-management-api.yaml  server path /order-management  → /order-management/v2/{paymentType}/receipts/{orderId} ...
//	qr-api.yaml                server path /qr                → /qr/v1/exchange ...
//	report-api.yaml            server path (none)             → /settlement/v1/ledgers, /report/v2/ledgers/... (report.go)
//
// The first segment of every wire path (epayment, accesstoken, miami,
// webhooks, order-management, qr, settlement, report) names the spec that owns it. A request
// whose first segment is none of these (for example the simulator's /sim/...
// control endpoints) is passed through unvalidated: ValidateRequest and
// ValidateResponse return "" and nil. A request under an owned segment that
// matches no operation of its spec is a failure.
//
// # Deviations from a plain validation of the files
//
// Every deviation below is applied to the in-memory copy only.
//
//  1. ePayment: the three oneOf subschemas of Customer (CustomerPhoneNumber,
//     PersonalQrCode, CustomerToken) declare no `required`, so any customer
//     object (even {}) matches more than one of them and a strict oneOf check
//     rejects every customer. Each subschema that has one property and no
//     `required` gets `required: [that property]` ([phoneNumber],
//     [personalQr], [customerToken]).
//  2. The 200 (success) responses of cancel, capture and refund are declared
//     as application/problem+json although their body is a
//     ModificationResponse; our servers answer application/json. Any 2xx
//     response that declares application/problem+json but not
//     application/json accepts both, validated against the same schema.
//  3. Error responses. A 4xx/5xx status that an operation does not declare
//     (getPayment declares none; 401, 404, 429, 500 ... happen) is not a
//     failure by itself, but its body must still be the spec's error object:
//     ePayment: application/problem+json, schema Problem (required: type,
//     title, status, traceId); Webhooks: application/problem+json, schema
//     ProblemDetails; Order Management: application/json, schema
//     ErrorResponse (required: title, detail, instance). The Access Token and
//     QR specs have no single error schema, so their undeclared error bodies
//     are not checked. Declared error statuses are validated as declared. A
//     2xx/3xx status that an operation does not declare IS a failure (e.g.
//     200 instead of 201 from createPayment).
//  4. A 429 or 503 may carry Retry-After; if it does, it must be
//     delta-seconds or an HTTP-date. No spec declares it.
//  5. Authentication is not validated: security requirements are satisfied by
//     openapi3filter.NoopAuthenticationFunc, and the explicit `Authorization`
//     header parameters of Order Management, QR and the Access Token /miami
//     endpoint are removed. Every other header parameter
//     (Merchant-Serial-Number, Ocp-Apim-Subscription-Key, Idempotency-Key,
//     client_id, client_secret, Vipps-System-*) is validated as declared.
//  6. Formats: kin-openapi checks date, date-time, byte, int32 and int64 by
//     itself. This package adds uuid and guid (8-4-4-4-12 hex digits, any
//     version; `guid` is the format of the Access Token client_id header),
//     uri (an absolute URI: a scheme and no parse error) and email (kin's
//     lenient pattern). Free-text formats such as "IATA 3-digit accounting
//     code (PAX)" in ePayment's AirlineData are ignored.
//  7. Media types with parameters used as content keys
//     (`application/json;charset=UTF-8` in the Access Token spec) are re-keyed
//     to the bare media type, so `application/json` and
//     `application/json; charset=utf-8` both match.
//  8. ePayment's /merchant-dynamic-shipping-callback path is an endpoint the
//     merchant implements (Express), not one on api.vipps.no: it is removed.
//  9. Operations without operationId (all of the Webhooks spec) get
//     "METHOD /wire/path", e.g. "POST /webhooks/v1/webhooks".
//  10. Examples in the specs are not validated (several are wrong: ePayment's
//     State example is an array, the Access Token expires_in examples are
//     numbers for string fields).
//  11. Report API: Money is validated as an integer (report.go).
//
// Request bodies are validated without inserting defaults. A request body on
// an operation that declares none is a failure.
//
// Secrets are never printed: reports mask the values of the Authorization,
// client_secret and Ocp-Apim-Subscription-Key headers, and the JSON values of
// access_token, client_secret and secret in bodies.
package spectest
