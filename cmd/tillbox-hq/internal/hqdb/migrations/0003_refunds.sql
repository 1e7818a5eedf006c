-- Refund anywhere in the chain (docs/chain.md, "Refund anywhere in the
-- chain"): one row per refund a till asked for a sale another till took.

CREATE TABLE refunds (
    chain       text        NOT NULL,
    -- The request's key: the asking till, the reference and its refund id
    -- (wire.RefundKey). A repeated request finds its row.
    key         text        NOT NULL,
    asker_store text        NOT NULL,
    asker_till  text        NOT NULL,
    refund_id   text        NOT NULL,
    reference   text        NOT NULL,
    -- Minor units asked for; 0: all that was left.
    amount      bigint      NOT NULL CHECK (amount >= 0),
    -- The till that took the sale; '' when no till claims the reference.
    owner_store text        NOT NULL DEFAULT '',
    owner_till  text        NOT NULL DEFAULT '',
    -- queued, accepted, completed or refused (wire.Refund*).
    state       text        NOT NULL,
    -- How many statuses the asker was sent (wire.RefundStatus.Step).
    step        integer     NOT NULL,
    code        text        NOT NULL DEFAULT '',
    message     text        NOT NULL DEFAULT '',
    field       text        NOT NULL DEFAULT '',
    reason      text        NOT NULL DEFAULT '',
    -- The sale as its till last showed it (the POS API's JSON), if known.
    sale        jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chain, key)
);
CREATE INDEX refunds_created ON refunds (chain, created_at DESC);
CREATE INDEX refunds_reference ON refunds (chain, reference);
