package spectest

import (
	"errors"

	"github.com/getkin/kin-openapi/openapi3"
)

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
// its body is not checked. The free-text formats of Transaction.time
// ("DateTime") and ledgerDate are ignored (deviation 6).
//
// One deviation of its own: Money is `type: number, format: int32` ("amounts
// are specified in minor units"), and kin-openapi checks int32 only on
// integers, so 100.5 would pass; Money becomes `type: integer` (int32), so a
// fraction of a minor unit is a failure.
var reportSpecFile = specFile{file: "report-api.yaml", fix: fixReport}

func fixReport(doc *openapi3.T) error {
	money := doc.Components.Schemas["Money"]
	if money == nil || money.Value == nil || !money.Value.Type.Is(openapi3.TypeNumber) {
		return errors.New("no Money number schema: the Money fix no longer applies")
	}
	money.Value.Type = &openapi3.Types{openapi3.TypeInteger}
	return nil
}
