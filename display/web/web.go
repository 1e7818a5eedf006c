// Package web is the one middleware of the box's pages for browsers (the
// customer display, the technician page): the security headers of every
// answer (each page brings its Content Security Policy), the Host check
// against DNS rebinding ([CheckHost]), and, where a page takes forms, the
// refusal of unsafe methods sent from other sites
// (http.CrossOriginProtection); and the limit of sign-in attempts of the
// pages that take a password ([Limiter]), also the fleet page's of
// tillbox-hq.
package web

import "net/http"

// Options say what a page needs of the middleware.
type Options struct {
	// CSP is the page's Content-Security-Policy.
	CSP string
	// ReferrerPolicy is sent as Referrer-Policy; default "no-referrer". A
	// page with forms checked by Origin wants "same-origin" (browsers then
	// send Origin with them).
	ReferrerPolicy string
	// CacheControl is sent as Cache-Control; default "no-store".
	CacheControl string

	// CheckHost serves only requests to the box's addresses and names
	// and to Hosts (see [CheckHost]).
	CheckHost bool
	Hosts     []string

	// CrossOrigin refuses requests of unsafe methods (POST…) from other
	// sites, before any handler (http.CrossOriginProtection); Deny answers
	// them (nil: 403 Forbidden).
	CrossOrigin bool
	Deny        http.Handler
}

// Handler serves next behind the middleware o describes: the Host check
// first (when asked for), then the headers, then the cross-origin check
// (when asked for). Every answer, next's and the refusals of the
// cross-origin check, carries Content-Security-Policy o.CSP,
// X-Content-Type-Options nosniff, X-Frame-Options DENY,
// Cross-Origin-Opener-Policy and Cross-Origin-Resource-Policy same-origin,
// the Referrer-Policy and Cache-Control of o, and over TLS
// Strict-Transport-Security.
func Handler(next http.Handler, o Options) http.Handler {
	if o.ReferrerPolicy == "" {
		o.ReferrerPolicy = "no-referrer"
	}
	if o.CacheControl == "" {
		o.CacheControl = "no-store"
	}
	if o.CrossOrigin {
		cop := http.NewCrossOriginProtection()
		if o.Deny != nil {
			cop.SetDenyHandler(o.Deny)
		}
		next = cop.Handler(next)
	}
	h := headers(next, o)
	if o.CheckHost {
		h = CheckHost(h, o.Hosts)
	}
	return h
}

// headers sets the headers of every answer.
func headers(next http.Handler, o Options) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", o.CSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", o.ReferrerPolicy)
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Cache-Control", o.CacheControl)
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}
