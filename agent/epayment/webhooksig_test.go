package epayment

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

// The official test vector of vippsas/webhooks-api request-authentication.md (FACTS.md §7).
const (
	vecSecret = "A0+AeKBRG2KRGvnNwJpQlb6IJFk48CKXCIcrLoHncVJKDILsQSxS6NWCccwWm6r6FhGKhiHTBsG2wo/xU6FY/A=="
	vecURL    = "https://webhook.site/e2cee29b-012e-4f1d-8ef4-e95fd74a7a63"
	vecBody   = `{"some-unique-content":"ee6e441b-cc4a-46f8-895d-a5af79bcc233/hello-world"}`
	vecDate   = "Thu, 30 Mar 2023 08:38:32 GMT"
	vecHash   = "lNlsp1XA03N34HrQsVzPgJKtC+r7l/RBF4V3JQUWMj4="
	vecAuth   = "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=agAiSyogQbDHpeucoNwYz+yAr5nJ+v+zasdkSbqzv+U="
)

func vectorHeaders() http.Header {
	h := http.Header{}
	h.Set("X-Ms-Date", vecDate)
	h.Set("X-Ms-Content-Sha256", vecHash)
	h.Set("Authorization", vecAuth)
	h.Set("Host", "webhook.site")
	return h
}

func TestSignWebhookReproducesOfficialVector(t *testing.T) {
	sig, err := SignWebhook(vecSecret, vecURL, vecDate, []byte(vecBody))
	if err != nil {
		t.Fatal(err)
	}
	if sig.ContentSHA256 != vecHash {
		t.Errorf("content hash = %s, want %s", sig.ContentSHA256, vecHash)
	}
	if sig.Authorization != vecAuth {
		t.Errorf("authorization = %s, want %s", sig.Authorization, vecAuth)
	}
}

func TestVerifyWebhookOfficialVector(t *testing.T) {
	if err := VerifyWebhook(vecSecret, vecURL, vectorHeaders(), []byte(vecBody)); err != nil {
		t.Fatalf("official vector refused: %v", err)
	}
}

func TestVerifyWebhookRefusesTampering(t *testing.T) {
	cases := []struct {
		name   string
		secret string
		url    string
		edit   func(h http.Header)
		body   string
		want   error
	}{
		{name: "body", body: strings.Replace(vecBody, "hello", "hellO", 1), want: ErrWebhookContentHash},
		{name: "body and matching hash", body: `{"x":1}`, edit: func(h http.Header) {
			sig, _ := SignWebhook("other", vecURL, vecDate, []byte(`{"x":1}`))
			h.Set("X-Ms-Content-Sha256", sig.ContentSHA256)
		}, want: ErrWebhookSignature},
		{name: "date", edit: func(h http.Header) { h.Set("X-Ms-Date", "Thu, 30 Mar 2023 08:38:33 GMT") }, want: ErrWebhookSignature},
		{name: "host", url: "https://webhook.sitf/e2cee29b-012e-4f1d-8ef4-e95fd74a7a63", want: ErrWebhookSignature},
		{name: "path", url: vecURL + "x", want: ErrWebhookSignature},
		{name: "query", url: vecURL + "?a=b", want: ErrWebhookSignature},
		{name: "signature", edit: func(h http.Header) {
			h.Set("Authorization", strings.Replace(vecAuth, "agAi", "agAj", 1))
		}, want: ErrWebhookSignature},
		{name: "secret", secret: "A0+AeKBRG2KRGvnNwJpQlb6IJFk48CKXCIcrLoHncVJKDILsQSxS6NWCccwWm6r6FhGKhiHTBsG2wo/xU6FY/B==", want: ErrWebhookSignature},
		{name: "no authorization", edit: func(h http.Header) { h.Del("Authorization") }, want: ErrWebhookHeaders},
		{name: "no date", edit: func(h http.Header) { h.Del("X-Ms-Date") }, want: ErrWebhookHeaders},
		{name: "no hash", edit: func(h http.Header) { h.Del("X-Ms-Content-Sha256") }, want: ErrWebhookHeaders},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			secret, u, body := vecSecret, vecURL, vecBody
			if c.secret != "" {
				secret = c.secret
			}
			if c.url != "" {
				u = c.url
			}
			if c.body != "" {
				body = c.body
			}
			h := vectorHeaders()
			if c.edit != nil {
				c.edit(h)
			}
			err := VerifyWebhook(secret, u, h, []byte(body))
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if err != nil && strings.Contains(err.Error(), secret) {
				t.Fatalf("error leaks the secret: %v", err)
			}
		})
	}
}

func TestSignWebhookURLForms(t *testing.T) {
	for _, c := range []struct{ url, host, path string }{
		{"https://Example.com/hook", "example.com", "/hook"},
		{"https://example.com:443/hook?x=1&y=2", "example.com", "/hook?x=1&y=2"},
		{"https://example.com:8080/", "example.com:8080", "/"},
		{"http://127.0.0.1:9000", "127.0.0.1:9000", "/"},
		{"http://[::1]:9000/w", "[::1]:9000", "/w"},
	} {
		host, path, err := hostAndPath(c.url)
		if err != nil || host != c.host || path != c.path {
			t.Errorf("hostAndPath(%q) = %q, %q, %v; want %q, %q", c.url, host, path, err, c.host, c.path)
		}
	}
	if _, _, err := hostAndPath("/relative"); err == nil {
		t.Error("relative URL accepted")
	}
}

// FuzzVerifyWebhook: whatever the secret, URL, date and body, a delivery we
// sign verifies, and any change to the body is refused; nothing panics.
func FuzzVerifyWebhook(f *testing.F) {
	f.Add(vecSecret, vecURL, vecDate, []byte(vecBody), []byte("x"))
	f.Add("", "https://a/", "", []byte{}, []byte{0})
	f.Add("s", "http://[::1]:80/p?q=%zz", "d", []byte("\xff\xfe"), []byte("{}"))
	f.Fuzz(func(t *testing.T, secret, rawURL, date string, body, other []byte) {
		sig, err := SignWebhook(secret, rawURL, date, body)
		if err != nil {
			return // not an absolute URL
		}
		h := http.Header{}
		sig.Apply(h)
		err = VerifyWebhook(secret, rawURL, h, body)
		if date == "" {
			if !errors.Is(err, ErrWebhookHeaders) {
				t.Fatalf("empty date: %v", err)
			}
			return
		}
		if err != nil {
			t.Fatalf("own signature refused: %v", err)
		}
		if string(other) != string(body) {
			if err := VerifyWebhook(secret, rawURL, h, other); err == nil {
				t.Fatalf("changed body accepted")
			}
		}
		// Verifying hostile headers must not panic.
		h.Set("Authorization", string(other))
		h.Set("X-Ms-Content-Sha256", string(other))
		_ = VerifyWebhook(secret, rawURL, h, body)
	})
}
