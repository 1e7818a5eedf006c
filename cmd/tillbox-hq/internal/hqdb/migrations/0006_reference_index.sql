-- A sale is looked up by its reference alone (a refund asked for at another
-- store names only the reference: internal/refunds): an index for that on
-- sales, the small table. The one on events by reference is dropped: no
-- query of headquarters reads events by reference (a sale's events are
-- read by till and sequence), and every event paid for it at ingest
-- (about a fifth of PostgreSQL's time in BenchmarkIngest).
CREATE INDEX sales_reference ON sales (chain, reference);
DROP INDEX IF EXISTS events_reference;
