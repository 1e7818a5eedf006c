package technician

import (
	"net/http"

	"github.com/tillbox/tillbox/display/web"
)

// client is who r comes from for the log and the sign-in limit
// (web.Limiter): its IP address (the box sits on the shop's LAN; there is
// no proxy in front of it).
func client(r *http.Request) string { return web.Client(r) }
