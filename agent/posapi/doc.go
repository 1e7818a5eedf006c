// Package posapi is the local HTTP API of the till box for the cash register
// (the POS): sales in, results out, with a bearer token. Its contract is the
// OpenAPI document openapi.yaml beside this file, served at
// /api/openapi.yaml; the tests check every request and answer against it.
//
// The routes, all under /api/v1 and all behind "Authorization: Bearer":
//
//	POST /api/v1/sales                        a new sale (201; 200 for a repeat)
//	GET  /api/v1/sales?after=REF&limit=N      sales in reference order
//	GET  /api/v1/sales/{reference}            one sale
//	POST /api/v1/sales/{reference}/cancel     queue a cancel (202; 200 when it had ended unpaid)
//	POST /api/v1/sales/{reference}/capture    queue a capture (202)
//	POST /api/v1/sales/{reference}/refund     queue a refund (202; all that is left without amount)
//	GET  /api/v1/events?after=SEQ&wait=S      the event log, long-poll
//	GET  /api/v1/events/ws?after=SEQ          the event log over WebSocket
//	GET  /api/v1/status                       the agent's health and queue
//	POST /api/v1/scans                        a scan from a virtual scanner
//
// Every error is JSON of one shape, {"error": code, "message": text} plus
// "field" and "reason" for a request that is wrong ("body" when the body as
// a whole is), and nothing is written for a request that is refused.
//
// oapiclient_gen_test.go is the client oapi-codegen generates from the
// document, in the external test package posapi_test, kept current and
// used against a real server by the tests: a POS's generated client must
// work without hand edits. Regenerate it with
//
//	go test ./agent/posapi -run TestGeneratedClientIsCurrent -update-oapiclient
//
// The files, one concept each:
//
//	server.go   New: routes, authentication, headers, logging
//	decode.go   strict request decoding: JSON only, bounded, integers
//	errors.go   the error shape and the mapping of agent errors
//	sales.go    the sale routes, status and scans
//	events.go   the event log: long-poll and WebSocket
//	client.go   Client, the typed client of this API
package posapi
