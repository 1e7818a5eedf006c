package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Command is one request to Vipps MobilePay in the outbox. It is written,
// with its Idempotency-Key and body, before it is first sent, and stays
// until the agent deletes it on a definitive answer; a retry after a crash
// or a power cut therefore sends the same key and body. Reference, Kind,
// IdempotencyKey, Body and CreatedAt never change once enqueued.
type Command struct {
	ID             uint64          `json:"id"` // assigned by Enqueue, increasing, never reused
	Reference      string          `json:"reference"`
	Kind           string          `json:"kind"` // e.g. create, capture, cancel, refund, receipt, get
	IdempotencyKey string          `json:"idempotencyKey,omitempty"`
	Body           json.RawMessage `json:"body,omitempty"`
	CreatedAt      time.Time       `json:"createdAt"`
	// NotAfter is the last moment the command may be sent (the
	// customer-present window of a create); zero means no deadline.
	NotAfter time.Time `json:"notAfter,omitzero"`
	Attempts int       `json:"attempts"`
	// MaybeSent: an attempt may have reached Vipps MobilePay (its answer
	// never came). Such a command is repeated or settled, never dropped as
	// if it had not happened.
	MaybeSent   bool      `json:"maybeSent,omitempty"`
	NextAttempt time.Time `json:"nextAttempt,omitzero"` // zero: due at once
	LastError   string    `json:"lastError,omitempty"`
	// NoAnswer: the last attempt got no answer at all (the network was
	// down). Such a command goes as soon as the network is back (Hasten);
	// one that was answered (a 429's Retry-After, a 5xx) keeps its back-off.
	NoAnswer bool `json:"noAnswer,omitempty"`
}

// Enqueue adds c to the outbox and sets c.ID.
func (tx *Tx) Enqueue(c *Command) error {
	if err := checkRef(c.Reference); err != nil {
		return fmt.Errorf("store: enqueue: %w", err)
	}
	if c.Kind == "" || c.CreatedAt.IsZero() {
		return fmt.Errorf("store: enqueue for %q: Kind and CreatedAt are required: %w", c.Reference, ErrInvalid)
	}
	if len(c.Kind) > maxKindLen {
		return fmt.Errorf("store: enqueue for %q: Kind longer than %d bytes: %w", c.Reference, maxKindLen, ErrInvalid)
	}
	outbox, err := tx.bucket(bucketOutbox)
	if err != nil {
		return err
	}
	id, err := outbox.NextSequence()
	if err != nil {
		return fmt.Errorf("store: enqueue: %w", err)
	}
	c.ID = id
	if err := tx.putCommand(c); err != nil {
		c.ID = 0
		return err
	}
	if err := tx.indexCommand(c); err != nil {
		return err
	}
	return tx.addCount(keyNCommands, 1)
}

func (tx *Tx) putCommand(c *Command) error {
	outbox, err := tx.bucket(bucketOutbox)
	if err != nil {
		return err
	}
	val, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("store: command %d: %w", c.ID, err)
	}
	if err := outbox.Put(u64Key(c.ID), val); err != nil {
		return fmt.Errorf("store: command %d: %w", c.ID, err)
	}
	return nil
}

func (tx *Tx) indexCommand(c *Command) error {
	byRef, err := tx.bucket(bucketOutRef)
	if err != nil {
		return err
	}
	due, err := tx.bucket(bucketOutDue)
	if err != nil {
		return err
	}
	if err := byRef.Put(refIDKey(c.Reference, c.ID), []byte{}); err != nil {
		return fmt.Errorf("store: index command %d: %w", c.ID, err)
	}
	if err := due.Put(timeIDKey(c.NextAttempt, c.ID), dueValue(c)); err != nil {
		return fmt.Errorf("store: index command %d: %w", c.ID, err)
	}
	return nil
}

// Command returns the command with the given ID, or an error wrapping
// [ErrNotFound].
func (tx *Tx) Command(id uint64) (*Command, error) {
	outbox, err := tx.bucket(bucketOutbox)
	if err != nil {
		return nil, err
	}
	v := outbox.Get(u64Key(id))
	if v == nil {
		return nil, fmt.Errorf("store: command %d: %w", id, ErrNotFound)
	}
	return tx.decodeCommand(id, v)
}

func (tx *Tx) decodeCommand(id uint64, v []byte) (*Command, error) {
	var c Command
	if err := json.Unmarshal(v, &c); err != nil {
		return nil, tx.corrupt(fmt.Sprintf("command %d", id), err)
	}
	return &c, nil
}

// Commands returns up to limit queued commands (all when limit <= 0) in ID
// order, which is the order they were enqueued, starting after ID after.
func (tx *Tx) Commands(after uint64, limit int) ([]Command, error) {
	outbox, err := tx.bucket(bucketOutbox)
	if err != nil {
		return nil, err
	}
	var out []Command
	c := outbox.Cursor()
	for k, v := c.Seek(u64Key(after + 1)); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Next() {
		cmd, err := tx.decodeCommand(keyU64(k), v)
		if err != nil {
			return nil, err
		}
		out = append(out, *cmd)
	}
	return out, nil
}

// CommandsFor returns the queued commands of one sale, in ID order.
func (tx *Tx) CommandsFor(ref string) ([]Command, error) {
	ids, err := tx.commandIDsFor(ref)
	if err != nil {
		return nil, err
	}
	out := make([]Command, 0, len(ids))
	for _, id := range ids {
		c, err := tx.Command(id)
		if err != nil {
			return nil, err
		}
		out = append(out, *c)
	}
	return out, nil
}

// commandIDsFor returns the IDs of the queued commands of one sale.
func (tx *Tx) commandIDsFor(ref string) ([]uint64, error) {
	byRef, err := tx.bucket(bucketOutRef)
	if err != nil {
		return nil, err
	}
	var ids []uint64
	prefix := refPrefix(ref)
	c := byRef.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		ids = append(ids, keyU64(k))
	}
	return ids, nil
}

// DueCommands returns up to limit commands (all when limit <= 0) whose
// NextAttempt is not after now, earliest first (then by ID). It reads an
// index by NextAttempt, so commands waiting for later cost nothing.
func (tx *Tx) DueCommands(now time.Time, limit int) ([]Command, error) {
	due, err := tx.bucket(bucketOutDue)
	if err != nil {
		return nil, err
	}
	until := timeKey(now)
	var out []Command
	c := due.Cursor()
	for k, _ := c.First(); k != nil && (limit <= 0 || len(out) < limit); k, _ = c.Next() {
		if len(k) != 16 {
			return nil, &CorruptError{Path: tx.path, Reason: fmt.Sprintf("%s key %x", bucketOutDue, k)}
		}
		if keyU64(k[:8]) > until {
			break
		}
		cmd, err := tx.Command(keyU64(k))
		if err != nil {
			return nil, err
		}
		out = append(out, *cmd)
	}
	return out, nil
}

// maxKindLen bounds a command's Kind, which its index entry holds.
const maxKindLen = 64

// DueCommand is what the outbox's index by NextAttempt holds of a queued
// command: enough to choose what to send without decoding the command.
type DueCommand struct {
	ID          uint64
	Reference   string
	Kind        string
	NextAttempt time.Time // zero: due at once
	NotAfter    time.Time
	MaybeSent   bool
}

// Due returns up to limit (all when limit <= 0) of the commands whose
// NextAttempt is not after now, earliest first (then by ID), as the index
// holds them: no command is decoded.
func (tx *Tx) Due(now time.Time, limit int) ([]DueCommand, error) {
	var out []DueCommand
	err := tx.EachDue(now, nil, func(d DueCommand) bool {
		out = append(out, d)
		return limit <= 0 || len(out) < limit
	})
	return out, err
}

// EachDue calls fn with each command whose NextAttempt is not after now,
// earliest first (then by ID), as the index holds it, until fn returns
// false: the outbox stops as soon as it has started all it may. Commands
// for which skip (if not nil) reports true are passed over undecoded: the
// outbox's own, already on their way.
func (tx *Tx) EachDue(now time.Time, skip func(id uint64) bool, fn func(DueCommand) bool) error {
	due, err := tx.bucket(bucketOutDue)
	if err != nil {
		return err
	}
	until := timeKey(now)
	c := due.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(k) == 16 && keyU64(k[:8]) > until {
			break
		}
		if skip != nil && len(k) == 16 && skip(keyU64(k)) {
			continue
		}
		d, ok := decodeDueValue(k, v)
		if !ok {
			return &CorruptError{Path: tx.path, Reason: fmt.Sprintf("%s entry %x: %x", bucketOutDue, k, v)}
		}
		if !fn(d) {
			return nil
		}
	}
	return nil
}

// NextDue returns the earliest NextAttempt of any queued command (the zero
// time for "due at once"), and false when the outbox is empty: how long the
// outbox worker may sleep.
func (tx *Tx) NextDue() (time.Time, bool, error) {
	due, err := tx.bucket(bucketOutDue)
	if err != nil {
		return time.Time{}, false, err
	}
	k, _ := due.Cursor().First()
	if k == nil {
		return time.Time{}, false, nil
	}
	c, err := tx.Command(keyU64(k))
	if err != nil {
		return time.Time{}, false, err
	}
	return c.NextAttempt, true, nil
}

// FirstCommandID returns the id of a sale's oldest queued command, and
// false when it has none. It reads only the index: the outbox worker asks
// it for every due command.
func (tx *Tx) FirstCommandID(ref string) (uint64, bool, error) {
	byRef, err := tx.bucket(bucketOutRef)
	if err != nil {
		return 0, false, err
	}
	prefix := refPrefix(ref)
	k, _ := byRef.Cursor().Seek(prefix)
	if k == nil || !bytes.HasPrefix(k, prefix) {
		return 0, false, nil
	}
	if len(k) != len(prefix)+8 {
		return 0, false, &CorruptError{Path: tx.path, Reason: fmt.Sprintf("%s key %x", bucketOutRef, k)}
	}
	return keyU64(k[len(prefix):]), true, nil
}

// NextDueAfter returns the earliest NextAttempt strictly after t, and false
// when no command waits for later: when to look again once the commands due
// now are dealt with.
func (tx *Tx) NextDueAfter(t time.Time) (time.Time, bool, error) {
	due, err := tx.bucket(bucketOutDue)
	if err != nil {
		return time.Time{}, false, err
	}
	k, _ := due.Cursor().Seek(u64Key(timeKey(t) + 1))
	if k == nil {
		return time.Time{}, false, nil
	}
	if len(k) != 16 {
		return time.Time{}, false, &CorruptError{Path: tx.path, Reason: fmt.Sprintf("%s key %x", bucketOutDue, k)}
	}
	c, err := tx.Command(keyU64(k[8:]))
	if err != nil {
		return time.Time{}, false, err
	}
	return c.NextAttempt, true, nil
}

// UpdateCommand stores the retry state of a queued command: Attempts,
// MaybeSent, NextAttempt, LastError, NoAnswer and NotAfter. Changing what is sent (Reference,
// Kind, IdempotencyKey, Body, CreatedAt) is refused with [ErrInvalid]: a
// retry must repeat the request exactly.
func (tx *Tx) UpdateCommand(c *Command) error {
	old, err := tx.Command(c.ID)
	if err != nil {
		return err
	}
	if old.Reference != c.Reference || old.Kind != c.Kind || old.IdempotencyKey != c.IdempotencyKey ||
		!old.CreatedAt.Equal(c.CreatedAt) || !sameJSON(old.Body, c.Body) {
		return fmt.Errorf("store: update command %d: only its retry state may change: %w", c.ID, ErrInvalid)
	}
	if !old.NextAttempt.Equal(c.NextAttempt) || old.MaybeSent != c.MaybeSent || !old.NotAfter.Equal(c.NotAfter) {
		due, err := tx.bucket(bucketOutDue)
		if err != nil {
			return err
		}
		if !old.NextAttempt.Equal(c.NextAttempt) {
			if err := due.Delete(timeIDKey(old.NextAttempt, c.ID)); err != nil {
				return err
			}
		}
		if err := due.Put(timeIDKey(c.NextAttempt, c.ID), dueValue(c)); err != nil {
			return err
		}
	}
	return tx.putCommand(c)
}

// sameJSON compares two JSON texts ignoring insignificant space (stored
// bodies are compacted by encoding/json).
func sameJSON(a, b json.RawMessage) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var ca, cb bytes.Buffer
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return false
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}

// DeleteCommand removes a command from the outbox (after a definitive
// answer, or when the agent abandons it); an error wrapping [ErrNotFound]
// if it is not there.
func (tx *Tx) DeleteCommand(id uint64) error {
	_, err := tx.TakeCommand(id)
	return err
}

// TakeCommand is DeleteCommand, returning the command it deleted.
func (tx *Tx) TakeCommand(id uint64) (*Command, error) {
	c, err := tx.Command(id)
	if err != nil {
		return nil, err
	}
	outbox, err := tx.bucket(bucketOutbox)
	if err != nil {
		return nil, err
	}
	byRef, err := tx.bucket(bucketOutRef)
	if err != nil {
		return nil, err
	}
	due, err := tx.bucket(bucketOutDue)
	if err != nil {
		return nil, err
	}
	for _, del := range []func() error{
		func() error { return outbox.Delete(u64Key(id)) },
		func() error { return byRef.Delete(refIDKey(c.Reference, id)) },
		func() error { return due.Delete(timeIDKey(c.NextAttempt, id)) },
	} {
		if err := del(); err != nil {
			return nil, fmt.Errorf("store: delete command %d: %w", id, err)
		}
	}
	return c, tx.addCount(keyNCommands, -1)
}

// Hasten makes every queued command due between now and until whose last
// attempt got no answer (NoAnswer) due at now, and returns how many it
// moved: after an outage, the commands held back by their back-off go as
// soon as the network is back. A command whose last attempt was answered
// keeps its NextAttempt (a Retry-After, a cancel that waits for the
// customer). What is sent is unchanged (same key, same body).
func (tx *Tx) Hasten(now, until time.Time) (int, error) {
	due, err := tx.bucket(bucketOutDue)
	if err != nil {
		return 0, err
	}
	var ids []uint64
	n := 0
	c := due.Cursor()
	for k, _ := c.Seek(u64Key(timeKey(now) + 1)); k != nil; k, _ = c.Next() {
		if len(k) != 16 {
			return 0, &CorruptError{Path: tx.path, Reason: fmt.Sprintf("%s key %x", bucketOutDue, k)}
		}
		if keyU64(k[:8]) > timeKey(until) {
			break
		}
		ids = append(ids, keyU64(k[8:]))
	}
	for _, id := range ids {
		cmd, err := tx.Command(id)
		if err != nil {
			return 0, err
		}
		if !cmd.NoAnswer {
			continue
		}
		cmd.NextAttempt = now
		if err := tx.UpdateCommand(cmd); err != nil {
			return 0, err
		}
		n++
	}
	return n, nil
}
