package epayment

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// The webhook signature scheme of the Webhooks API (FACTS.md §7): an
// HMAC-SHA256, keyed with the UTF-8 bytes of the registration's secret as given
// (not base64-decoded), over
//
//	POST\n{pathAndQuery}\n{x-ms-date};{host};{x-ms-content-sha256}
//
// where path, query and host are those of the registered URL.

const signedHeaders = "x-ms-date;host;x-ms-content-sha256"

// Errors of VerifyWebhook. None of them carries the secret or the signature.
var (
	ErrWebhookContentHash = errors.New("webhook: x-ms-content-sha256 does not match the body")
	ErrWebhookSignature   = errors.New("webhook: signature does not match")
	ErrWebhookHeaders     = errors.New("webhook: missing x-ms-date, x-ms-content-sha256 or Authorization header")
)

// WebhookSignature is the headers that sign one webhook delivery.
type WebhookSignature struct {
	Date          string // x-ms-date, RFC 1123 (http.TimeFormat)
	ContentSHA256 string // x-ms-content-sha256
	Authorization string // Authorization
}

// Apply sets the signature headers on h.
func (s WebhookSignature) Apply(h http.Header) {
	h.Set("X-Ms-Date", s.Date)
	h.Set("X-Ms-Content-Sha256", s.ContentSHA256)
	h.Set("Authorization", s.Authorization)
}

// SignWebhook signs a delivery of body to the registered URL at the given
// x-ms-date, as Vipps MobilePay does.
func SignWebhook(secret, registeredURL, date string, body []byte) (WebhookSignature, error) {
	host, pathAndQuery, err := hostAndPath(registeredURL)
	if err != nil {
		return WebhookSignature{}, err
	}
	sum := sha256.Sum256(body)
	contentHash := base64.StdEncoding.EncodeToString(sum[:])
	return WebhookSignature{
		Date:          date,
		ContentSHA256: contentHash,
		Authorization: "HMAC-SHA256 SignedHeaders=" + signedHeaders + "&Signature=" +
			webhookMAC(secret, pathAndQuery, date, host, contentHash),
	}, nil
}

// VerifyWebhook checks the signature of an incoming webhook against the URL it
// was registered with and the registration's secret. body must be the raw bytes
// received. The comparisons run in constant time.
func VerifyWebhook(secret, registeredURL string, h http.Header, body []byte) error {
	date := h.Get("X-Ms-Date")
	gotHash := h.Get("X-Ms-Content-Sha256")
	gotAuth := h.Get("Authorization")
	if date == "" || gotHash == "" || gotAuth == "" {
		return ErrWebhookHeaders
	}
	host, pathAndQuery, err := hostAndPath(registeredURL)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(body)
	wantHash := base64.StdEncoding.EncodeToString(sum[:])
	if subtle.ConstantTimeCompare([]byte(gotHash), []byte(wantHash)) != 1 {
		return ErrWebhookContentHash
	}
	want := "HMAC-SHA256 SignedHeaders=" + signedHeaders + "&Signature=" +
		webhookMAC(secret, pathAndQuery, date, host, wantHash)
	if subtle.ConstantTimeCompare([]byte(gotAuth), []byte(want)) != 1 {
		return ErrWebhookSignature
	}
	return nil
}

func webhookMAC(secret, pathAndQuery, date, host, contentHash string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("POST\n" + pathAndQuery + "\n" + date + ";" + host + ";" + contentHash))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// hostAndPath gives a URL's authority (host[:port], as .NET's Uri.Authority:
// the default port of the scheme is left out) and its path and query.
func hostAndPath(rawURL string) (host, pathAndQuery string, err error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return "", "", fmt.Errorf("webhook: registered URL %q is not an absolute URL", rawURL)
	}
	host = strings.ToLower(u.Hostname())
	if p := u.Port(); p != "" && !(u.Scheme == "https" && p == "443") && !(u.Scheme == "http" && p == "80") {
		host += ":" + p
	}
	if strings.Contains(u.Hostname(), ":") { // IPv6 literal
		host = "[" + strings.ToLower(u.Hostname()) + "]"
		if p := u.Port(); p != "" && !(u.Scheme == "https" && p == "443") && !(u.Scheme == "http" && p == "80") {
			host += ":" + p
		}
	}
	pathAndQuery = u.EscapedPath()
	if pathAndQuery == "" {
		pathAndQuery = "/"
	}
	if u.RawQuery != "" {
		pathAndQuery += "?" + u.RawQuery
	}
	return host, pathAndQuery, nil
}
