// Package technician is the technician's page of the box: sign-in, the
// box's status, a database backup, a live scan test, the settings and a
// restart, behind a session.
//
// Sign-in is with the password set by `tillbox passwd` (an argon2id hash
// in the data directory, or console.password_hash), or, while no password
// is set, with a one-time code written to a file only root and the
// service can read (Options.CodeFile, <data_dir>/first-boot-code: someone
// with the box in hand); never on a display, a page or in the log. With
// Options.Settings, signing in with the code leads to
// setting a password first, which ends the code. A session is a
// random 256-bit id in an HttpOnly, SameSite=Strict cookie (Secure over
// TLS) with a server-side expiry; every POST carries the session's CSRF
// token; sign-in is rate limited per client. Every answer carries a strict
// Content Security Policy: no inline script or style, nothing but the
// box's own embedded assets. Secrets are never shown: the settings page
// only says whether each is set and where from, and takes new ones
// write-only.
//
// The files, one concept each:
//
//	password.go  password hashes, the password file, the one-time code
//	session.go   sessions, their cookie and CSRF tokens
//	limit.go     the sign-in rate limit
//	scans.go     the recent scans, for the scan test
//	status.go    what the status page shows
//	settings.go  the settings, the password page and restart
//	console.go   the handler: routes, pages and headers
package technician
