package posapi

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

// wantCoverage is, per operation of openapi.yaml, every status the tests
// must have seen checked against the document: every route and every error
// path of the API.
var wantCoverage = map[string][]int{
	"getOpenAPI":   {200},
	"createSale":   {200, 201, 400, 401, 409, 413, 415, 503},
	"listSales":    {200, 400, 405},
	"getSale":      {200, 400, 401, 404, 405, 500},
	"cancelSale":   {200, 202, 400, 404, 405, 409, 415},
	"captureSale":  {202, 400, 409},
	"refundSale":   {202, 400, 404, 409, 413, 503},
	"getEvents":    {200, 400, 409, 410},
	"streamEvents": {101, 400, 401, 403, 409, 410},
	"getStatus":    {200},
	"postScan":     {200, 400, 409},
	"getBackup":    {200, 400, 401},
	"getBusy":      {200, 400, 401},
	"getHealthz":   {200},
	"getReadyz":    {200, 503},
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if code == 0 && flag.Lookup("test.run").Value.String() == "" && flag.Lookup("test.skip").Value.String() == "" &&
		flag.Lookup("test.fuzz").Value.String() == "" {
		if missing := missingCoverage(); len(missing) > 0 {
			fmt.Fprintf(os.Stderr, "openapi.yaml coverage incomplete, never seen:\n  %s\nseen: %v\n", strings.Join(missing, "\n  "), seen())
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
