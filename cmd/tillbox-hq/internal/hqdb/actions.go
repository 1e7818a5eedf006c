package hqdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/fleetpage"
)

// The audit of remote technician actions (table actions, migration
// 0002): a row written when an operator asks, completed once with the
// box's answer or "no answer".

// The outcomes of an action's row: wire's, and these two.
const (
	// OutcomePending: asked, not answered yet.
	OutcomePending = "pending"
	// OutcomeNoAnswer: the box did not answer (offline, or not within the
	// action's time).
	OutcomeNoAnswer = "no_answer"
)

// ErrNoAction: no such action in the chain.
var ErrNoAction = fleetpage.ErrNoAction

// Action is one row of the audit (as the fleet page shows it).
type Action = fleetpage.Action

// AskAction records that op asked till for action, to be answered by
// deadline, and returns the row's id.
func (db *DB) AskAction(ctx context.Context, till wire.Till, op, action string, args wire.ActionArgs, deadline time.Time) (int64, error) {
	a, err := json.Marshal(args)
	if err != nil {
		return 0, err
	}
	var id int64
	err = db.pool.QueryRow(ctx, `INSERT INTO actions (chain, store, till, operator, action, args, deadline)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
		till.Chain, till.Store, till.Till, op, action, string(a), deadline).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("recording the action: %w", err)
	}
	return id, nil
}

// AnswerAction completes row id, once: a second answer changes nothing.
func (db *DB) AnswerAction(ctx context.Context, id int64, outcome, result, errText string, reply *wire.ActionReply) error {
	var body any // NULL without a reply
	if reply != nil {
		body = string(reply.Marshal())
	}
	_, err := db.pool.Exec(ctx, `UPDATE actions SET answered_at = now(), outcome = $2, result = $3, error = $4, reply = $5
		WHERE id = $1 AND answered_at IS NULL`, id, outcome, result, errText, body)
	if err != nil {
		return fmt.Errorf("recording the answer: %w", err)
	}
	return nil
}

// ProgressAction updates the result line of a pending row (a restart
// waiting for the box to come back).
func (db *DB) ProgressAction(ctx context.Context, id int64, result string) error {
	_, err := db.pool.Exec(ctx, `UPDATE actions SET result = $2 WHERE id = $1 AND answered_at IS NULL`, id, result)
	return err
}

const actionColumns = `id, chain, store, till, operator, action, args, asked_at, deadline, answered_at, outcome, result, error, reply`

// Actions lists the chain's newest actions (of till when it is not nil),
// newest first, at most limit.
func (db *DB) Actions(ctx context.Context, chain string, till *wire.Till, limit int) ([]Action, error) {
	q := `SELECT ` + actionColumns + ` FROM actions WHERE chain = $1 ORDER BY id DESC LIMIT $2`
	args := []any{chain, limit}
	if till != nil {
		q = `SELECT ` + actionColumns + ` FROM actions WHERE chain = $1 AND store = $3 AND till = $4 ORDER BY id DESC LIMIT $2`
		args = append(args, till.Store, till.Till)
	}
	rows, err := db.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("actions: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanAction)
	if err != nil {
		return nil, fmt.Errorf("actions: %w", err)
	}
	return out, nil
}

// Action is row id of the chain.
func (db *DB) Action(ctx context.Context, chain string, id int64) (Action, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+actionColumns+` FROM actions WHERE chain = $1 AND id = $2`, chain, id)
	if err != nil {
		return Action{}, fmt.Errorf("action: %w", err)
	}
	a, err := pgx.CollectExactlyOneRow(rows, scanAction)
	if errors.Is(err, pgx.ErrNoRows) {
		return Action{}, ErrNoAction
	}
	if err != nil {
		return Action{}, fmt.Errorf("action: %w", err)
	}
	return a, nil
}

func scanAction(row pgx.CollectableRow) (Action, error) {
	var a Action
	var args []byte
	var answered *time.Time
	var reply []byte
	err := row.Scan(&a.ID, &a.Till.Chain, &a.Till.Store, &a.Till.Till, &a.Operator, &a.Action, &args,
		&a.AskedAt, &a.Deadline, &answered, &a.Outcome, &a.Result, &a.Error, &reply)
	if err != nil {
		return a, err
	}
	if answered != nil {
		a.AnsweredAt = *answered
	}
	_ = json.Unmarshal(args, &a.Args)
	if reply != nil {
		a.Reply = &wire.ActionReply{}
		if err := json.Unmarshal(reply, a.Reply); err != nil {
			a.Reply = nil
		}
	}
	return a, nil
}
