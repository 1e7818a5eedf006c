// Package store keeps tillbox's durable state in one bbolt file: the sales,
// the outbox of commands to Vipps MobilePay (each with its Idempotency-Key
// and body, written before it is first sent), and the event log the POS
// reads by sequence number.
//
// The store is persistence only: plain records and transactions. The agent
// owns the sale state machine, the outbox worker and the POS API; it commits
// with [DB.Update] (durable: fsynced before Update returns) and tells the POS
// and the display only afterwards ([Tx.OnCommit]).
//
// Open refuses, without modifying it, a file another process holds
// ([ErrLocked], naming its pid), a damaged one ([ErrCorrupt], saying how to
// restore a backup) and one from a newer tillbox ([ErrSchemaTooNew]). It
// migrates older schemas in one transaction and compacts a mostly-free file.
// [DB.Backup] copies the database while it is in use; [DB.Prune] bounds its
// growth; [DB.Verify] checks every page and index.
//
// Layout: one top-level bucket per record kind, plus indexes that keep the
// frequent questions independent of the number of finished sales: the
// unfinished sales (sales_open), finished sales by FinishedAt (sales_done,
// for Prune), queued commands by sale (outbox_ref) and by NextAttempt
// (outbox_due). Counts live in the meta bucket, so Stats costs a few page
// reads.
package store
