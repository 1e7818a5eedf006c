package sim

import (
	"net/http"
	"testing"

	"github.com/tillbox/tillbox/agent/epayment"
)

func TestQRExchange(t *testing.T) {
	g := newRig(t, Options{})
	exchange := func(code string) res {
		return g.call("POST", "/qr/v1/exchange", map[string]any{"qrCode": code, "requestedData": []string{"MSISDN"}}, "Merchant-Serial-Number", "-")
	}
	var qr epayment.QRExchangeResponse
	exchange("https://qr.vipps.no/28/2/01/031/4712345678?v=1").want(http.StatusOK).decode(&qr)
	if qr.MSISDN != "4712345678" || qr.Version != "1.0" || qr.Timestamp != nil {
		t.Fatalf("clear-text exchange %+v", qr)
	}
	u := SeedUsers()[2]
	exchange(u.PersonalQR()).want(http.StatusOK).decode(&qr)
	if qr.MSISDN != u.PhoneNumber || qr.Version != "2.0" || qr.Timestamp == nil || *qr.Timestamp != testStart.Unix() {
		t.Fatalf("tokenised exchange %+v", qr)
	}
	for _, bad := range []string{
		"7038010055607", // an EAN-13
		"https://qr.vipps.no/p/NoSuchToken99",
		"https://qr.vipps.no/28/2/01/031/4712345678", // cut short: no ?v=1
		"qr.vipps.no/28/2/01/031/4712345678?v=1",
		"https://example.com/p/Yk7WcS2pQe9Hn4Rt",
		"",
	} {
		r := exchange(bad).want(http.StatusBadRequest)
		if ct := r.Header.Get("Content-Type"); ct != ctJSON {
			t.Fatalf("QR error as %q", ct)
		}
		var e epayment.Problem
		r.decode(&e)
		if e.Status != 400 || e.Detail == "" || len(e.ExtraDetails) != 1 || e.ExtraDetails[0].Name != "qrCode" {
			t.Fatalf("%q: error %s", bad, r.Body)
		}
	}
	g.rawCall("POST", "/qr/v1/exchange", map[string]any{"qrCode": "https://qr.vipps.no/p/Yk7WcS2pQe9Hn4Rt", "requestedData": []string{"NAME"}}).
		want(http.StatusBadRequest)
	g.rawCall("POST", "/qr/v1/exchange", map[string]any{"qrCode": "https://qr.vipps.no/p/Yk7WcS2pQe9Hn4Rt"}, "Ocp-Apim-Subscription-Key", "-").
		want(http.StatusUnauthorized)
}

func TestCustomerExchange(t *testing.T) {
	g := newRig(t, Options{})
	var out struct {
		MSISDN    string `json:"msisdn"`
		Timestamp int64  `json:"timestamp"`
	}
	g.call("POST", "/qr/v1/exchange/customer", map[string]any{"customer": map[string]any{"customerToken": "ct-7f3e9a1c2b"}, "requestedData": []string{"MSISDN"}}).
		want(http.StatusOK).decode(&out)
	if out.MSISDN != "4712345678" {
		t.Fatalf("msisdn %q", out.MSISDN)
	}
	g.call("POST", "/qr/v1/exchange/customer", map[string]any{"customer": map[string]any{"customerToken": "ct-nobody"}, "requestedData": []string{"MSISDN"}}).
		want(http.StatusBadRequest)
	g.rawCall("POST", "/qr/v1/exchange/customer", map[string]any{"requestedData": []string{"MSISDN"}}).want(http.StatusBadRequest)
}

func TestParsePersonalQR(t *testing.T) {
	for _, tc := range []struct {
		in   string
		kind qrKind
		val  string
	}{
		{"https://qr.vipps.no/28/2/01/031/4712345678?v=1", qrClearText, "4712345678"},
		{"https://QR.VIPPS.NO/1/2/3/4/358401234567?v=2", qrClearText, "358401234567"},
		{" https://qr.vipps.no/p/Yk7WcS2pQe9Hn4Rt\r\n", qrTokenised, "Yk7WcS2pQe9Hn4Rt"},
		{"https://qr.vipps.no/p/abc", qrNotPersonal, ""},                           // token too short
		{"http://qr.vipps.no/28/2/01/031/4712345678?v=1", qrNotPersonal, ""},       // not https
		{"https://qr.vipps.no/28/2/01/031/4712345678?v=1&m=hi", qrNotPersonal, ""}, // a payment link
		{"https://qr.vipps.no/28/x/01/031/4712345678?v=1", qrNotPersonal, ""},      // not digits
		{"https://qr.vipps.no/28/2/01/4712345678?v=1", qrNotPersonal, ""},          // a segment short
		{"https://qr.vipps.no/28/2/01/031/47123?v=1", qrNotPersonal, ""},           // not an MSISDN
		{"https://qr.vipps.no.evil.example/p/Yk7WcS2pQe9Hn4Rt", qrNotPersonal, ""}, // another host
		{"https://user@qr.vipps.no/p/Yk7WcS2pQe9Hn4Rt", qrNotPersonal, ""},         // user info
		{"7038010055607", qrNotPersonal, ""},
	} {
		kind, val := parsePersonalQR(tc.in)
		if kind != tc.kind || val != tc.val {
			t.Errorf("parsePersonalQR(%q) = %v %q, want %v %q", tc.in, kind, val, tc.kind, tc.val)
		}
	}
}
