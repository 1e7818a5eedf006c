package sim

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent/epayment"
)

func TestTokenAnswer(t *testing.T) {
	g := newRig(t, Options{TokenLifetime: 30 * time.Minute})
	r := g.call("POST", "/accesstoken/get", nil,
		"client_id", testClientID, "client_secret", testSecret, "Ocp-Apim-Subscription-Key", testSubKey, "Authorization", "-")
	r.want(http.StatusOK)
	if ct := r.Header.Get("Content-Type"); ct != ctTokenJSON {
		t.Fatalf("content type %q", ct)
	}
	// Every value is a JSON string, numbers included.
	var raw map[string]any
	r.decode(&raw)
	for _, k := range []string{"token_type", "expires_in", "ext_expires_in", "expires_on", "not_before", "resource", "access_token"} {
		if _, ok := raw[k].(string); !ok {
			t.Fatalf("%s = %#v, want a string", k, raw[k])
		}
	}
	var tr epayment.TokenResponse
	r.decode(&tr)
	if tr.TokenType != "Bearer" || tr.ExpiresIn != "1800" {
		t.Fatalf("token_type %q expires_in %q", tr.TokenType, tr.ExpiresIn)
	}
	if want := strconv.FormatInt(testStart.Add(30*time.Minute).Unix(), 10); tr.ExpiresOn != want {
		t.Fatalf("expires_on %s, want %s (sim clock + lifetime)", tr.ExpiresOn, want)
	}
	if tr.NotBefore != strconv.FormatInt(testStart.Unix(), 10) {
		t.Fatalf("not_before %s", tr.NotBefore)
	}
	if strings.Count(tr.AccessToken, ".") != 2 || tr.AccessToken == g.token {
		t.Fatalf("access_token is not a fresh JWT-shaped token")
	}
	if strings.Contains(tr.AccessToken, testSecret) {
		t.Fatal("the token carries the client secret")
	}
}

func TestTokenCredentials(t *testing.T) {
	g := newRig(t, Options{ClientID: testClientID, ClientSecret: testSecret, SubscriptionKey: testSubKey})
	hdr := func(kv ...string) []string {
		base := map[string]string{"client_id": testClientID, "client_secret": testSecret, "Ocp-Apim-Subscription-Key": testSubKey}
		for i := 0; i < len(kv); i += 2 {
			base[kv[i]] = kv[i+1]
		}
		out := []string{"Authorization", "-", "Merchant-Serial-Number", "-"}
		for k, v := range base {
			out = append(out, k, v)
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		hdr    []string
		raw    bool // the request breaks the spec (a required header is missing)
		status int
	}{
		{"pinned values", hdr(), false, http.StatusOK},
		{"wrong secret", hdr("client_secret", "nope"), false, http.StatusUnauthorized},
		{"wrong client id", hdr("client_id", "00000000-0000-0000-0000-000000000009"), false, http.StatusUnauthorized},
		{"wrong subscription key", hdr("Ocp-Apim-Subscription-Key", "other"), false, http.StatusUnauthorized},
		{"no subscription key", hdr("Ocp-Apim-Subscription-Key", "-"), true, http.StatusUnauthorized},
		{"no client secret", hdr("client_secret", "-"), true, http.StatusBadRequest},
		{"no client id", hdr("client_id", "-"), true, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := g.sub(t)
			var r res
			if tc.raw {
				r = g.rawCall("POST", "/accesstoken/get", nil, tc.hdr...)
			} else {
				r = g.call("POST", "/accesstoken/get", nil, tc.hdr...)
			}
			r.want(tc.status)
			if tc.status != http.StatusOK && strings.Contains(string(r.Body), testSecret) {
				t.Fatal("the error echoes the secret")
			}
		})
	}
}

func TestBearerToken(t *testing.T) {
	g := newRig(t, Options{})
	g.create("auth-ref-0001", 1000)
	path := "/epayment/v1/payments/auth-ref-0001"
	g.call("GET", path, nil).want(http.StatusOK)
	g.rawCall("GET", path, nil, "Authorization", "-").wantError(http.StatusUnauthorized, "")
	g.call("GET", path, nil, "Authorization", g.token).wantError(http.StatusUnauthorized, "") // without "Bearer"
	g.call("GET", path, nil, "Authorization", "Bearer not-a-token").wantError(http.StatusUnauthorized, "")
	g.rawCall("GET", path, nil, "Ocp-Apim-Subscription-Key", "-").wantError(http.StatusUnauthorized, "")
	g.call("GET", path, nil, "Authorization", "bearer "+g.token).want(http.StatusOK) // scheme is case-insensitive
	g.call("POST", "/epayment/v1/payments", createBody("auth-ref-0002", 1000, phone("4712345678")),
		"Idempotency-Key", newKey(), "Authorization", "Bearer expired.or.forged").wantError(http.StatusUnauthorized, "")
	if _, ok := g.sim.Payment("", "auth-ref-0002"); ok {
		t.Fatal("an unauthorised create made a payment")
	}
}

func TestTokenExpiresBySimClock(t *testing.T) {
	g := newRig(t, Options{TokenLifetime: time.Hour})
	g.create("expiry-ref-01", 1000)
	path := "/epayment/v1/payments/expiry-ref-01"
	g.clock.Advance(59*time.Minute + 59*time.Second)
	g.call("GET", path, nil).want(http.StatusOK)
	g.clock.Advance(time.Second)
	g.call("GET", path, nil).wantError(http.StatusUnauthorized, "")
	// Every API refuses it, Order Management in its own shape.
	g.call("GET", "/order-management/v2/ECOM/expiry-ref-01", nil).want(http.StatusUnauthorized)
	g.call("GET", "/webhooks/v1/webhooks", nil).wantError(http.StatusUnauthorized, "")
	g.token = g.fetchToken()
	g.call("GET", path, nil).want(http.StatusOK)
}

func TestRevokeTokens(t *testing.T) {
	g := newRig(t, Options{})
	g.create("revoke-ref-01", 1000)
	path := "/epayment/v1/payments/revoke-ref-01"
	r := g.call("POST", "/sim/tokens/revoke", nil)
	r.want(http.StatusNoContent)
	g.call("GET", path, nil).wantError(http.StatusUnauthorized, "")
	g.call("POST", "/epayment/v1/payments/revoke-ref-01/capture", modBody(100), "Idempotency-Key", newKey()).wantError(http.StatusUnauthorized, "")
	g.token = g.fetchToken() // a client refreshes after the 401
	g.call("GET", path, nil).want(http.StatusOK)
}

func TestMerchantSerialNumber(t *testing.T) {
	g := newRig(t, Options{MSN: testMSN})
	body := createBody("msn-ref-0001", 1000, phone("4712345678"))
	g.rawCall("POST", "/epayment/v1/payments", body, "Idempotency-Key", newKey(), "Merchant-Serial-Number", "-").wantField("Merchant-Serial-Number")
	g.rawCall("POST", "/epayment/v1/payments", body, "Idempotency-Key", newKey(), "Merchant-Serial-Number", "12ab").wantField("Merchant-Serial-Number")
	g.call("POST", "/epayment/v1/payments", body, "Idempotency-Key", newKey(), "Merchant-Serial-Number", "654321").wantError(http.StatusForbidden, "")
	g.rawCall("GET", "/order-management/v2/ECOM/msn-ref-0001", nil, "Merchant-Serial-Number", "-").want(http.StatusBadRequest)
	if len(g.sim.Payments()) != 0 {
		t.Fatal("a refused create made a payment")
	}
	g.call("POST", "/epayment/v1/payments", body, "Idempotency-Key", newKey()).want(http.StatusCreated)
}

func TestPaymentsAreScopedByMSN(t *testing.T) {
	g := newRig(t, Options{})
	g.create("scoped-ref-01", 1000)
	g.call("GET", "/epayment/v1/payments/scoped-ref-01", nil, "Merchant-Serial-Number", "99999").wantError(http.StatusNotFound, codeReferenceNotFound)
	// The same reference under another MSN is another payment.
	g.call("POST", "/epayment/v1/payments", createBody("scoped-ref-01", 1000, phone("4712345678")),
		"Idempotency-Key", newKey(), "Merchant-Serial-Number", "99999").want(http.StatusCreated)
	if n := len(g.sim.Payments()); n != 2 {
		t.Fatalf("%d payments, want 2", n)
	}
}

func TestIdempotencyKeyHeader(t *testing.T) {
	g := newRig(t, Options{})
	body := createBody("idemhdr-ref-1", 1000, phone("4712345678"))
	g.rawCall("POST", "/epayment/v1/payments", body).wantField("Idempotency-Key")
	g.rawCall("POST", "/epayment/v1/payments", body, "Idempotency-Key", strings.Repeat("k", 51)).wantField("Idempotency-Key")
	g.create("idemhdr-ref-1", 1000)
	g.approve("idemhdr-ref-1")
	g.rawCall("POST", "/epayment/v1/payments/idemhdr-ref-1/capture", modBody(100)).wantField("Idempotency-Key")
	g.rawCall("POST", "/epayment/v1/payments/idemhdr-ref-1/refund", modBody(100)).wantField("Idempotency-Key")
	// Optional on cancel.
	g.cancel("idemhdr-ref-1", "", nil).want(http.StatusOK)
	if ops := g.info("idemhdr-ref-1").Ops; ops.Capture != 0 || ops.Refund != 0 || ops.Cancel != 1 {
		t.Fatalf("ops %+v", ops)
	}
}

// TestTokenExpiresInRealSecondsWhenScaled: with a scaled clock the token
// answer reports real time, so a client on the real clock refreshes before
// the simulator's clock expires the token.
func TestTokenExpiresInRealSecondsWhenScaled(t *testing.T) {
	for _, c := range []struct {
		speed    float64
		lifetime time.Duration
		want     int64
	}{
		{1, time.Hour, 3600},
		{60, time.Hour, 60},
		{3600, 10 * time.Minute, 1}, // 0.17 s real: reported as 1 s, and the token lives that long
	} {
		g := newRig(t, Options{Clock: NewScaledClock(c.speed), TokenLifetime: c.lifetime})
		before := time.Now().Unix()
		var tr epayment.TokenResponse
		g.call("POST", "/accesstoken/get", nil,
			"client_id", testClientID, "client_secret", testSecret, "Ocp-Apim-Subscription-Key", testSubKey, "Authorization", "-").
			want(http.StatusOK).decode(&tr)
		after := time.Now().Unix()
		in, _ := strconv.ParseInt(tr.ExpiresIn, 10, 64)
		on, _ := strconv.ParseInt(tr.ExpiresOn, 10, 64)
		nb, _ := strconv.ParseInt(tr.NotBefore, 10, 64)
		if in != c.want || nb < before || nb > after || on != nb+in {
			t.Errorf("speed %v, lifetime %v: expires_in %s, not_before %s, expires_on %s; want expires_in %d and real epoch seconds",
				c.speed, c.lifetime, tr.ExpiresIn, tr.NotBefore, tr.ExpiresOn, c.want)
		}
		g.sim.mu.Lock()
		exp := g.sim.tokens[tr.AccessToken]
		g.sim.mu.Unlock()
		if life := exp.Sub(g.sim.Now()); float64(life) < float64(in)*c.speed*float64(time.Second)*0.9 {
			t.Errorf("speed %v: the token lives %v of sim time, shorter than the %d real seconds reported", c.speed, life, in)
		}
	}
}
