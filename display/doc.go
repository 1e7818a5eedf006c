// Package display is the customer display: a full-screen page served by the
// box (Chromium in kiosk mode on its HDMI output, or any browser on the
// shop's LAN) that tells the customer what to do and whether they paid.
//
// A [Hub] keeps, for each till, what its display shows — a [View] — and
// pushes it over WebSocket to every display of that till: the whole view
// when a display connects, then each change. The hub never blocks whoever
// feeds it: each display has a bounded queue, and a display that falls
// behind is dropped (the page reconnects by itself and gets the view anew).
// [Follow] feeds a till from the agent: the sales from its event log, the
// scans and the network from its watchers.
//
// The page and its assets are embedded in the binary; nothing is fetched
// from anywhere else. The page formats amounts from integer minor units in
// the till's language (nb, da, fi, en).
//
// The files, one concept each:
//
//	view.go     what a display shows: screens and the view
//	till.go     one till's facts, and the view they make
//	hub.go      the tills and their displays' queues
//	ws.go       what one display's WebSocket sends (the stream: wsstream)
//	handler.go  the page and its assets (the headers: web)
//	follow.go   feeding a till from the agent
//
// Beside it, shared with the technician page and the POS API: wsstream
// pumps a WebSocket (pings, deadlines, close), web is the middleware of
// the pages for browsers (headers, Host check, cross-origin refusal).
package display
