package sim

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"time"
)

// Idempotency (FACTS.md §6): per MSN and Idempotency-Key, the first answer of an
// operation is kept and replayed to a retry with the same body, so the operation
// is never applied twice. A retry with another body gets 409; a key used for
// another operation (another op or another reference) gets 409 with 4020. Every
// answer the operation gives is kept, a 4xx included ("a 4xx stays a 4xx").
// Answers given before the operation runs (401, 429, injected faults, a missing
// header) are not kept. The real retention of keys is not documented: the
// simulator keeps a key while its payment lives, and forgets it with the
// payment (retention.go), or after Options.Retention when it names no payment.

type idemKey struct{ msn, key string }

type idemRecord struct {
	op        string
	reference string
	bodyHash  [32]byte
	reply     *reply
	at        time.Time // when the answer was given (sim clock)
}

// replay returns the kept answer for c's Idempotency-Key, a 409 when the key
// was used differently, or nil when the key is new (or absent).
// Must be called with s.mu held.
func (s *Server) replay(c *call, reference string) *reply {
	if c.idemKey == "" {
		return nil
	}
	rec, ok := s.idem[idemKey{c.msn, c.idemKey}]
	if !ok {
		return nil
	}
	if rec.op != c.rt.op || rec.reference != reference {
		return c.domainError(http.StatusConflict, codeIdempotency, "Idempotency error",
			"The Idempotency-Key was already used for another operation. Use a new key for a new operation.")
	}
	if rec.bodyHash != bodyHash(c.body) {
		code := codeIdempotency // create and cancel: the generic idempotency error
		switch c.rt.op {
		case opCapturePayment:
			code = codeCaptureIdemConflict
		case opRefundPayment:
			code = codeReferenceExists
		}
		return c.domainError(http.StatusConflict, code, "Idempotency conflict",
			"The Idempotency-Key was already used with another request body. An idempotent retry must repeat the body exactly.")
	}
	kept := *rec.reply
	return &kept
}

// remember keeps rep as the answer for c's Idempotency-Key.
// Must be called with s.mu held.
func (s *Server) remember(c *call, reference string, rep *reply) {
	if c.idemKey == "" {
		return
	}
	kept := *rep
	s.idem[idemKey{c.msn, c.idemKey}] = &idemRecord{
		op:        c.rt.op,
		reference: reference,
		bodyHash:  bodyHash(c.body),
		reply:     &kept,
		at:        s.now(),
	}
}

// bodyHash hashes a request body so that two encodings of the same JSON value
// (key order, white space) are the same request.
func bodyHash(b []byte) [32]byte {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return sha256.Sum256(nil)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err == nil && !dec.More() {
		if canon, err := json.Marshal(v); err == nil {
			return sha256.Sum256(canon)
		}
	}
	return sha256.Sum256(b)
}
