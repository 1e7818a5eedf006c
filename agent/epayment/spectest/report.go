package spectest

// The Report API (report-api.yaml, v2): its server is the bare host
// https://api.vipps.no, so its wire paths are the spec's own
// (/settlement/v1/ledgers, /report/v2/ledgers/..., /report/v1/...), owned by
// the segments "settlement" and "report".
//
// Its error bodies: an operation's declared 401 and 500 are validated as
// declared (401 {code, message}, 500 {errorCode, errorMessage, contextId},
// application/json); every other error status falls to the operations'
// `default` response, application/problem+json with schema Problem, so
// deviation 3 never applies. The dates endpoint's 404 declares no content:
// its body is not checked. Money is `type: number, format: int32`, which
// kin-openapi checks as an integer in the int32 range; the free-text formats
// of Transaction.time ("DateTime") and ledgerDate are ignored (deviation 6).
var reportSpecFile = specFile{file: "report-api.yaml"}
