-- Remote technician actions (issue 14, part 2): every action an operator
-- asked of a till from the fleet page, written when asked and completed
-- with the box's answer (or "no answer"). docs/chain.md ("## Remote
-- technician actions") documents it.
CREATE TABLE actions (
    id          bigserial   PRIMARY KEY,
    chain       text        NOT NULL,
    store       text        NOT NULL,
    till        text        NOT NULL,
    -- who asked (a fleet page user) and what
    operator    text        NOT NULL,
    action      text        NOT NULL,
    -- the action's arguments as sent (a phone number masked)
    args        jsonb       NOT NULL DEFAULT '{}',
    asked_at    timestamptz NOT NULL DEFAULT now(),
    -- when headquarters stops waiting for the answer
    deadline    timestamptz NOT NULL,
    answered_at timestamptz,
    -- pending until answered; then ok, refused, failed or no_answer
    outcome     text        NOT NULL DEFAULT 'pending'
                CHECK (outcome IN ('pending', 'ok', 'refused', 'failed', 'no_answer')),
    -- the result in a line, or the error
    result      text        NOT NULL DEFAULT '',
    error       text        NOT NULL DEFAULT '',
    -- the box's answer (wire.ActionReply), bounded by the box
    reply       jsonb
);
CREATE INDEX actions_till ON actions (chain, store, till, id DESC);
CREATE INDEX actions_chain ON actions (chain, id DESC);
