-- Sales are keyed by (chain, reference, store, till): the same rows as
-- before, in an order that also serves a lookup by the reference alone
-- (a refund asked for at another store), so the separate index for that
-- goes, and each sale the ingest writes updates two indexes, not three.
ALTER TABLE sales DROP CONSTRAINT sales_pkey;
ALTER TABLE sales ADD PRIMARY KEY (chain, reference, store, till);
DROP INDEX IF EXISTS sales_reference;
