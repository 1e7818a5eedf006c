-- tillbox-hq's first schema: the boxes' journals, sales as accounting reads
-- them, and the tills. docs/chain.md ("## Headquarters") documents it.

-- Every event of every box's log, exactly once, as the box wrote it.
CREATE TABLE events (
    chain       text        NOT NULL,
    store       text        NOT NULL,
    till        text        NOT NULL,
    seq         bigint      NOT NULL CHECK (seq > 0),
    reference   text        NOT NULL DEFAULT '',
    kind        text        NOT NULL,
    state       text        NOT NULL DEFAULT '',
    at          timestamptz NOT NULL,
    -- The exact bytes of the event in the box's log (JSON): equal to it
    -- byte for byte. body::jsonb reads it as JSON.
    body        text        NOT NULL,
    stream_seq  bigint      NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chain, store, till, seq)
);
CREATE INDEX events_reference ON events (chain, reference);

-- One row per sale, from the newest event of it that headquarters has.
CREATE TABLE sales (
    chain       text        NOT NULL,
    store       text        NOT NULL,
    till        text        NOT NULL,
    reference   text        NOT NULL,
    msn         text        NOT NULL DEFAULT '',
    amount      bigint      NOT NULL,
    currency    text        NOT NULL,
    description text        NOT NULL DEFAULT '',
    authorized  bigint      NOT NULL DEFAULT 0,
    captured    bigint      NOT NULL DEFAULT 0,
    refunded    bigint      NOT NULL DEFAULT 0,
    cancelled   bigint      NOT NULL DEFAULT 0,
    state       text        NOT NULL,
    outcome     boolean     NOT NULL DEFAULT false,
    vipps_state text        NOT NULL DEFAULT '',
    error_code  text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    finished_at timestamptz,
    last_seq    bigint      NOT NULL,
    PRIMARY KEY (chain, store, till, reference)
);
CREATE INDEX sales_created ON sales (chain, created_at);

-- Every till headquarters has heard of: its last heartbeat and how much of
-- its journal is here.
CREATE TABLE tills (
    chain            text        NOT NULL,
    store            text        NOT NULL,
    till             text        NOT NULL,
    msn              text        NOT NULL DEFAULT '',
    reference_prefix text        NOT NULL DEFAULT '',
    version          text        NOT NULL DEFAULT '',
    heartbeat        jsonb,
    heartbeat_at     timestamptz,
    at_hq            bigint      NOT NULL DEFAULT 0,
    PRIMARY KEY (chain, store, till)
);
