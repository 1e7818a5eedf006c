// Package agent is the heart of tillbox: it takes sales from the cash
// register, binds them to the customer's scanned personal QR code (or a typed
// phone number), asks Vipps MobilePay for the payment, learns the outcome by
// polling and webhooks, captures, and tells the cash register every result
// exactly once through an event log with sequence numbers.
//
// Nothing is lost: every sale and every command to Vipps MobilePay is
// committed to the store (fsync) before anyone is told about it, each command
// carries its Idempotency-Key from the moment it is queued, and a command whose
// outcome is unknown is repeated with the same key or settled from GET, never
// replaced by a new payment.
//
// The files of the package, one concept each:
//
//	options.go   configuration and defaults
//	state.go     the states of a sale and what a cashier is told
//	request.go   the sale request of the POS and its validation
//	agent.go     the Agent: open, run, close
//	sales.go     POS operations: new sale, cancel, capture, refund, read
//	scan.go      binding a scan to the next sale
//	outbox.go    the worker that sends queued commands
//	schedule.go  what the outbox sends now, holds, and when it looks again (pure)
//	send.go      one attempt of a command and what its answer does
//	create.go    a create: within its window, abandoned or settled after it
//	settle.go    applying what ePayment says to a sale
//	poll.go      polling outcomes, reconciliation
//	webhook.go   the webhook endpoint
//	events.go    the event log the POS reads
//	watch.go     watchers of scans and the network (the customer display)
package agent
