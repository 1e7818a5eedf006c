package sim

import (
	"net/http"
	"testing"
)

// TestPathsMatchAnyCase: the paths of the official Postman collections
// (POST /accessToken/get) and any other case of an API's fixed path parts
// reach the operation, as at the gateway; a reference keeps its case, and
// the control API and unknown paths do not match loosely.
func TestPathsMatchAnyCase(t *testing.T) {
	g := newRig(t, Options{})
	tok := func(path string) res {
		return g.send(nil, "POST", path, nil,
			"client_id", testClientID, "client_secret", testSecret, "Ocp-Apim-Subscription-Key", testSubKey, "Authorization", "-", "Merchant-Serial-Number", "-")
	}
	for _, p := range []string{"/accessToken/get", "/AccessToken/Get", "/ACCESSTOKEN/GET"} {
		tok(p).want(http.StatusOK)
	}
	g.create("Ref-Case-1", 1000)
	if got := g.send(nil, "GET", "/ePayment/V1/Payments/Ref-Case-1", nil).want(http.StatusOK); len(got.Body) == 0 {
		t.Fatal("empty answer")
	}
	g.send(nil, "POST", "/EPAYMENT/v1/TEST/payments/Ref-Case-1/Approve", map[string]any{"customer": phone("4712345678")}).want(http.StatusOK)
	if p := g.get("Ref-Case-1"); p.State != "AUTHORIZED" {
		t.Fatalf("after an approve at a path of another case: %s", p.State)
	}
	// The reference is a variable: its case matters.
	g.send(nil, "GET", "/epayment/v1/payments/REF-CASE-1", nil).want(http.StatusNotFound)
	g.send(nil, "GET", "/Webhooks/V1/Webhooks", nil).want(http.StatusOK)
	// A method the path does not take is refused as at the exact path.
	g.send(nil, "GET", "/AccessToken/Get", nil).want(g.send(nil, "GET", "/accesstoken/get", nil).Status)
	// Unknown paths stay unknown; the control API matches exactly.
	g.send(nil, "POST", "/accessToken/got", nil).want(http.StatusNotFound)
	g.send(nil, "GET", "/SIM/payments", nil).want(http.StatusNotFound)
}
