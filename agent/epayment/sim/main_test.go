package sim

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

// wantCoverage is, per operationId of the specs, every status the tests must
// have seen go through the validator (requests and answers both checked, or,
// for deliberately malformed requests, the answers). It proves that every
// endpoint and error path of the simulator was checked against specs/.
var wantCoverage = map[string][]int{
	"fetchAuthorizationTokenUsingPost":  {200, 400, 401},
	"createPayment":                     {201, 400, 401, 403, 409, 429, 500},
	"getPayment":                        {200, 400, 401, 404, 429},
	"getPaymentEventLog":                {200, 404, 429},
	"cancelPayment":                     {200, 400, 404, 409},
	"capturePayment":                    {200, 400, 404, 409, 423, 429},
	"refundPayment":                     {200, 400, 409},
	"forceApprove":                      {200, 400, 404},
	"post-receipt-v2":                   {201, 400, 401, 409},
	"put-category-v2":                   {200, 400},
	"get-order-v2":                      {200, 404},
	"POST /webhooks/v1/webhooks":        {201, 400},
	"GET /webhooks/v1/webhooks":         {200},
	"DELETE /webhooks/v1/webhooks/{id}": {204, 400, 404},
	"exchangeQr":                        {200, 400},
	"exchangeCustomer":                  {200, 400},
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if code == 0 && flag.Lookup("test.run").Value.String() == "" && flag.Lookup("test.skip").Value.String() == "" {
		if missing := missingCoverage(); len(missing) > 0 {
			fmt.Fprintf(os.Stderr, "spec coverage incomplete, never seen:\n  %s\n", strings.Join(missing, "\n  "))
			code = 1
		}
	}
	os.Exit(code)
}

func missingCoverage() []string {
	coverage.Lock()
	defer coverage.Unlock()
	var missing []string
	for op, statuses := range wantCoverage {
		for _, st := range statuses {
			if !coverage.seen[op][st] {
				missing = append(missing, fmt.Sprintf("%s %d", op, st))
			}
		}
	}
	slices.Sort(missing)
	return missing
}
