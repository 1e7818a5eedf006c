-- Alerts: why a box is unhealthy (cmd/tillbox-hq/internal/alerts,
-- docs/chain.md "Alerts"). One row per alert of a till, open while
-- cleared_at is null; cleared ones stay 30 days for a look.
CREATE TABLE alerts (
    id         bigserial   PRIMARY KEY,
    chain      text        NOT NULL,
    store      text        NOT NULL,
    till       text        NOT NULL,
    kind       text        NOT NULL,
    since      timestamptz NOT NULL,
    reason     text        NOT NULL,
    raised_at  timestamptz NOT NULL DEFAULT now(),
    cleared_at timestamptz
);
CREATE UNIQUE INDEX alerts_open ON alerts (chain, store, till, kind) WHERE cleared_at IS NULL;
CREATE INDEX alerts_cleared ON alerts (cleared_at) WHERE cleared_at IS NOT NULL;

-- What headquarters remembers of each till's queue between evaluations
-- (a queue growing over heartbeats in a row).
CREATE TABLE alert_trends (
    chain      text        NOT NULL,
    store      text        NOT NULL,
    till       text        NOT NULL,
    heard_at   timestamptz NOT NULL,
    queue      integer     NOT NULL,
    rises      integer     NOT NULL DEFAULT 0,
    from_at    timestamptz,
    from_queue integer     NOT NULL DEFAULT 0,
    PRIMARY KEY (chain, store, till)
);
