-- Reconciliation against the settlement ledger (cmd/tillbox-hq/internal/recon,
-- docs/chain.md "Reconciliation"): per sales unit (MSN) and ledger date, what
-- the tills journaled against what the Vipps MobilePay Report API's ledger
-- says. A run replaces the day's rows of the MSN in one transaction.

-- One row per chain, ledger date and MSN: the ledger's totals, fee and
-- payout, and the run that wrote them.
CREATE TABLE recon_days (
    chain            text        NOT NULL,
    day              date        NOT NULL,
    msn              text        NOT NULL,
    -- the store whose tills use the MSN (the first by name when several)
    store            text        NOT NULL DEFAULT '',
    ledger_id        text        NOT NULL DEFAULT '',
    currency         text        NOT NULL DEFAULT '',
    -- the ledger date is closed at Vipps MobilePay (the report is complete)
    closed           boolean     NOT NULL DEFAULT false,
    -- minor units; refunds, fees and payouts as positive numbers
    ledger_captured  bigint      NOT NULL DEFAULT 0,
    ledger_refunded  bigint      NOT NULL DEFAULT 0,
    journal_captured bigint      NOT NULL DEFAULT 0,
    journal_refunded bigint      NOT NULL DEFAULT 0,
    fee              bigint      NOT NULL DEFAULT 0,
    payout           bigint      NOT NULL DEFAULT 0,
    run_at           timestamptz NOT NULL,
    PRIMARY KEY (chain, day, msn)
);

-- One row per reference that moved money on the day on either side.
CREATE TABLE recon_lines (
    chain            text    NOT NULL,
    day              date    NOT NULL,
    msn              text    NOT NULL,
    reference        text    NOT NULL,
    kind             text    NOT NULL
                     CHECK (kind IN ('matched', 'pending', 'missing_on_ledger', 'missing_in_journal', 'amount_differs')),
    store            text    NOT NULL DEFAULT '',
    till             text    NOT NULL DEFAULT '',
    currency         text    NOT NULL DEFAULT '',
    journal_captured bigint  NOT NULL DEFAULT 0,
    journal_refunded bigint  NOT NULL DEFAULT 0,
    ledger_captured  bigint  NOT NULL DEFAULT 0,
    ledger_refunded  bigint  NOT NULL DEFAULT 0,
    -- journal's net (captured - refunded) less the ledger's
    difference       bigint  NOT NULL DEFAULT 0,
    PRIMARY KEY (chain, day, msn, reference)
);
CREATE INDEX recon_lines_store ON recon_lines (chain, day, store);
