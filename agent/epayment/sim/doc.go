// Package sim simulates the Vipps MobilePay APIs a till uses, at their real
// paths, for tests, the demo and benchmarks: the access token, ePayment,
// Order Management receipts, Webhooks (registration and signed delivery) and
// the QR API's personal QR exchange, and, for headquarters' reconciliation,
// the Report API's settlement ledger (report.go). A Server is an http.Handler; serve it on
// loopback (httptest.NewServer) and point a client's base URL at it.
//
// The behaviour follows shared/vipps/FACTS.md and the official specs in
// shared/specs/; the package's tests check every request and answer against
// those specs. The simulated world runs on a clock.Clock (real, scaled for the
// demo, or a clock.Fake for tests), and a /sim/ control API (see control.go) lets a
// test or the demo steer the customer app, inject faults, move the clock and
// inspect payments and webhook deliveries.
//
// # Decisions and deviations
//
// Where the sources are silent or disagree, the simulator decides as follows.
//
// Headers and errors:
//   - Subscription key: missing or (when pinned) wrong → 401 on every API
//     except Webhooks, where it is optional as in its spec (a wrong pinned
//     one is still 401). Bearer token: missing, without "Bearer", unknown,
//     revoked or expired (by the simulator's clock) → 401.
//   - Merchant-Serial-Number: required on ePayment and Order Management (400
//     when missing or not ^[0-9]{4,10}$), optional elsewhere; when Options.MSN
//     is pinned another MSN is 403. References and idempotency keys are per MSN.
//   - Error bodies: ePayment and Webhooks answer RFC 7807
//     application/problem+json with type https://httpstatuses.io/<status>,
//     title, detail, status, traceId (W3C-like) and instance (the path without
//     the API's base path); domain errors carry
//     extraDetails [{"name":"ErrorCode","reason":"NNNN"}], malformed fields a
//     400 naming each field, without a code. Order Management answers its own
//     shape (application/json, invalidParams, instance = trace id), the QR API
//     {title,status,detail,extraDetails} as application/json (its spec), the
//     token endpoint {error,error_description}.
//   - HTTP statuses of domain errors: 400, except 409 for idempotency
//     conflicts (4010, 4020, refund 4150) and "reference exists" (4150), and
//     403 for 5080 (PUSH_MESSAGE not allowed). An unknown reference is 404 with
//     code 5090. An unknown path (or a known path with another method) is 404.
//     The fixed parts of the APIs' paths match in any case, as at the gateway
//     (POST /accessToken/get of the Postman collections); the /sim/ control
//     paths match exactly.
//   - The 200 answer of cancel, capture and refund is application/json; the
//     spec declares application/problem+json (a quirk clients must accept).
//
// createPayment:
//   - Every phone number matching ^\d{9,15}$ is a known user, except users
//     marked Ineligible (seeded: 4700000000; add more with POST /sim/users):
//     7010. Personal QR codes: the clear-text Vipps form
//     https://qr.vipps.no/<digits>/<digits>/<digits>/<digits>/<msisdn>?v=<n>
//     and the tokenised https://qr.vipps.no/p/<token>, whose token must belong
//     to a test user (SeedUsers); anything else, or an unknown token, is 4060.
//     An unknown customerToken is 4050.
//   - PUSH_MESSAGE without a customer and WEB_REDIRECT without returnUrl are
//     4140 (missing required parameter). CARD outside WEB_REDIRECT and
//     CARD_PASSTHROUGH are a 400 naming paymentMethod.type. expiresAt is
//     always 5050: the simulated sales unit is not approved for long-living
//     payments (so 6110/6120/6130 never occur). Amounts above 65 000 000 and
//     decimals are 4040; below the currency's minimum 6010; a currency other
//     than the sales unit's 5040.
//   - A receipt sent inside createPayment is stored in Order Management under
//     ECOM and the reference.
//
// State machine and operations:
//   - Cancel of a CREATED payment: TERMINATED, cancelledAmount = amount, event
//     TERMINATED. Cancel of an AUTHORIZED payment releases all the uncaptured
//     amount (event CANCELLED, state stays AUTHORIZED); after a full capture
//     6040; when nothing is left to release after an earlier cancel, 200 with
//     the unchanged payment and no event. Capture after a cancel: 6070.
//   - Cancel while the customer is mid-authorisation (the last 100 ms of
//     simulated time before the app's scheduled approval, app.go): 400 6250,
//     the payment unchanged. Like every 4xx it is kept for its
//     Idempotency-Key: cancel again with a new key.
//   - On ABORTED, EXPIRED and TERMINATED payments: cancel 6190, capture 6200,
//     refund 6210 (by operation). Capture/refund of 0 is 4040. A capture or
//     refund in another currency than the payment's is a 400 naming
//     modificationAmount.currency.
//   - Events: CREATED, CAPTURED, REFUNDED, CANCELLED, TERMINATED carry the
//     request's Idempotency-Key (null for a cancel without one); AUTHORIZED,
//     ABORTED and EXPIRED, done by the customer or the clock, carry null.
//   - Force approve: {customer} must be the payment's customer (any eligible
//     user for a payment without one), {token} the token of the payment's
//     redirectUrl; otherwise 10020. Already AUTHORIZED: 6230; final states:
//     10020. It is not idempotent and not rate limited.
//
// Idempotency (idempotency.go): per MSN and key; a key reused with another
// body is 409 with 4010 (capture), 4150 (refund) or 4020 (create, cancel); a
// key reused for another operation or another reference is 409 with 4020.
//
// Rate limits (ratelimit.go): sliding one-minute windows by the simulator's
// clock, each operation counted on its own.
//
// Magic amounts (app.go, operations.go): approval of 151, 182, 183, 184, 186,
// 187, 197, 202 fails and the payment ends ABORTED (force approve: 400 10010);
// 201 stays CREATED, ignores the app and force approve (400 10010), and expires
// after 1 hour. Refunds of exactly 123 (400 5100) and 124 (400 6220) are
// refused; each leaves a REFUNDED event with success false and moves nothing.
//
// Webhooks (webhooks.go, delivery.go): https URLs on ports 443, 80 or 8080;
// on loopback hosts also http and any port (for tests); deliveries go only to
// loopback hosts unless Options.AllowRemoteWebhooks (a refused delivery is
// logged as given up, never retried); x-ms-date is the simulator's clock; the
// eight ePayment event types and user.checked-in.v1 are accepted (anything
// else is a 400 naming it), only ePayment events are ever sent.
//
// Customer app (app.go): a policy set for a reference re-schedules that
// payment's decision if it is still CREATED; default and phone policies apply
// to new payments.
//
// Tokens (auth.go): with a scaled clock (--speed) the token answer reports
// real time: expires_in is TokenLifetime divided by the speed.
//
// Retention (retention.go): a payment in a final state is forgotten, with its
// idempotency keys, Options.Retention (default 24 h of simulated time) after
// its last event; calls for it then get 404. Registrations, users and the
// latest 10000 delivery attempts are kept for the simulator's life.
package sim
