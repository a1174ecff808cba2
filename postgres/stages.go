package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dowserhq/dowser"
)

// stageMoveCTEs move an account forward into a stage and record the move,
// following CTEs that the statement defines before them: mover
// (account_id, alert_id, signal_id, cause, by: at most one row, none to
// move nothing), model (the stage model in force: version, stages) and
// target (version, stage, ord: the stage to move into and its position,
// 1 first). The account moves only when the target is later than its
// current stage in the model; a stage the model no longer names counts as
// before every stage. The ON CONFLICT condition is checked again on the
// row as it is when two moves race, so an account never moves back.
const stageMoveCTEs = `
, current_stage AS (
	SELECT s.stage FROM account_stages s, mover WHERE s.account_id = mover.account_id
), moved AS (
	INSERT INTO account_stages AS s (account_id, stage)
	SELECT mover.account_id, target.stage FROM mover, target
	WHERE target.ord > coalesce((SELECT st.ord FROM model, current_stage,
		jsonb_array_elements(model.stages) WITH ORDINALITY AS st (doc, ord) WHERE st.doc->>'id' = current_stage.stage), 0)
	ON CONFLICT (account_id) DO UPDATE SET stage = EXCLUDED.stage, since = EXCLUDED.since
	WHERE (SELECT target.ord FROM target) > coalesce((SELECT st.ord FROM model,
		jsonb_array_elements(model.stages) WITH ORDINALITY AS st (doc, ord) WHERE st.doc->>'id' = s.stage), 0)
	RETURNING s.stage
), transitioned AS (
	INSERT INTO stage_transitions (account_id, from_stage, to_stage, alert_id, signal_id, cause, changed_by, model_version)
	SELECT mover.account_id, coalesce((SELECT stage FROM current_stage), ''), moved.stage,
		mover.alert_id, mover.signal_id, mover.cause, mover.by, target.version
	FROM mover, moved, target
	ON CONFLICT (alert_id, cause) DO NOTHING
	RETURNING to_stage
)`

// signalMoveCTEs, within saveAlertSQL, move the alert's account ($6) into
// the stage whose signals include the alert's signal ($2), only when the
// alert itself was stored by this statement: a replay moves nothing.
const signalMoveCTEs = `
, mover AS (
	SELECT alert.id AS alert_id, $6::text AS account_id, $2::text AS signal_id, 'signal'::text AS cause, ''::text AS by
	FROM alert WHERE $6 <> ''
), model AS (
	SELECT version, stages FROM stage_models WHERE EXISTS (SELECT 1 FROM mover) ORDER BY version DESC LIMIT 1
), target AS (
	SELECT model.version, st.doc->>'id' AS stage, st.ord
	FROM model, jsonb_array_elements(model.stages) WITH ORDINALITY AS st (doc, ord)
	WHERE st.doc->'signals' ? $2::text LIMIT 1
)` + stageMoveCTEs

// handoffMoveSQL moves the account of alert $1 into the model's accepted
// stage for user $2, once per alert whoever accepts it and however often.
const handoffMoveSQL = `
WITH mover AS (
	SELECT a.id AS alert_id, a.account_id, a.signal_id, 'handoff'::text AS cause, $2::text AS by
	FROM alerts a WHERE a.id = $1 AND a.account_id <> ''
		AND NOT EXISTS (SELECT 1 FROM stage_transitions t WHERE t.alert_id = $1 AND t.cause = 'handoff')
), model AS (
	SELECT version, stages, accepted_stage FROM stage_models ORDER BY version DESC LIMIT 1
), target AS (
	SELECT model.version, st.doc->>'id' AS stage, st.ord
	FROM model, jsonb_array_elements(model.stages) WITH ORDINALITY AS st (doc, ord)
	WHERE model.accepted_stage <> '' AND st.doc->>'id' = model.accepted_stage
)` + stageMoveCTEs + `
SELECT count(*) FROM transitioned`

// StageModel returns the stage model in force: the newest version, or a
// model of version 0 without stages when none was ever saved.
func (s *Alerts) StageModel(ctx context.Context) (dowser.StageModel, error) {
	list, err := s.stageModels(ctx, 0, 1)
	if err != nil {
		return dowser.StageModel{}, err
	}
	if len(list) == 0 {
		return dowser.StageModel{Stages: []dowser.Stage{}}, nil
	}
	return list[0], nil
}

// StageVersion returns one saved version of the stage model, or
// dowser.ErrNotFound.
func (s *Alerts) StageVersion(ctx context.Context, version int) (dowser.StageModel, error) {
	list, err := s.stageModels(ctx, version, 1)
	if err != nil {
		return dowser.StageModel{}, err
	}
	if len(list) == 0 {
		return dowser.StageModel{}, fmt.Errorf("stage model version %d: %w", version, dowser.ErrNotFound)
	}
	return list[0], nil
}

// StageHistory returns the saved versions of the stage model, newest
// first, at most limit: who saved which stages and when.
func (s *Alerts) StageHistory(ctx context.Context, limit int) ([]dowser.StageModel, error) {
	return s.stageModels(ctx, 0, limit)
}

func (s *Alerts) stageModels(ctx context.Context, version, limit int) ([]dowser.StageModel, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT version, stages, accepted_stage, saved_by, saved_at FROM stage_models
		WHERE $1 = 0 OR version = $1 ORDER BY version DESC LIMIT $2`, version, limit)
	if err != nil {
		return nil, fmt.Errorf("reading stage models: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (dowser.StageModel, error) {
		var m dowser.StageModel
		var doc []byte
		if err := row.Scan(&m.Version, &doc, &m.Accepted, &m.SavedBy, &m.SavedAt); err != nil {
			return m, err
		}
		if err := json.Unmarshal(doc, &m.Stages); err != nil {
			return m, fmt.Errorf("decoding stages of version %d: %w", m.Version, err)
		}
		return m, nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading stage models: %w", err)
	}
	if out == nil {
		out = []dowser.StageModel{}
	}
	return out, nil
}

// SaveStageModel stores m as the next version, saved by the user, and
// returns it as stored. m must be valid (m.Validate); its version and
// authorship are ignored.
func (s *Alerts) SaveStageModel(ctx context.Context, m dowser.StageModel, by string) (dowser.StageModel, error) {
	for i := range m.Stages {
		if m.Stages[i].Signals == nil {
			m.Stages[i].Signals = []string{}
		}
	}
	if m.Stages == nil {
		m.Stages = []dowser.Stage{}
	}
	doc, err := json.Marshal(m.Stages)
	if err != nil {
		return m, fmt.Errorf("encoding stages: %w", err)
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Two saves at once would take the same next version: one waits.
		if _, err := tx.Exec(ctx, `LOCK TABLE stage_models IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `
			INSERT INTO stage_models (version, stages, accepted_stage, saved_by)
			SELECT coalesce(max(version), 0) + 1, $1, $2, $3 FROM stage_models
			RETURNING version, saved_by, saved_at`, doc, m.Accepted, by).Scan(&m.Version, &m.SavedBy, &m.SavedAt)
	})
	if err != nil {
		return m, fmt.Errorf("saving the stage model: %w", err)
	}
	return m, nil
}

// maxTransitions bounds the transitions an account's stage lists.
const maxTransitions = 100

// AccountStage returns where the account stands and its moves, newest
// first (at most 100). An account never moved has stage "" and no moves.
func (s *Alerts) AccountStage(ctx context.Context, accountID string) (dowser.AccountStage, error) {
	out := dowser.AccountStage{AccountID: accountID, Transitions: []dowser.StageTransition{}}
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
		var since time.Time
		err := tx.QueryRow(ctx, `SELECT stage, since FROM account_stages WHERE account_id = $1`, accountID).Scan(&out.Stage, &since)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return err
		default:
			out.Since = &since
		}
		rows, err := tx.Query(ctx, `
			SELECT from_stage, to_stage, alert_id, signal_id, cause, changed_by, model_version, at
			FROM stage_transitions WHERE account_id = $1 ORDER BY id DESC LIMIT $2`, accountID, maxTransitions)
		if err != nil {
			return err
		}
		list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[dowser.StageTransition])
		if len(list) > 0 {
			out.Transitions = list
		}
		return err
	})
	if err != nil {
		return out, fmt.Errorf("reading the stage of account %s: %w", accountID, err)
	}
	return out, nil
}

// DecideHandoff records the user's acceptance or rejection of the handoff
// of an alert addressed to them (a later decision replaces it) and, on
// acceptance, moves the alert's account into the model's accepted stage,
// once per alert. It reports whether the account moved, and returns
// dowser.ErrNotFound when the alert was not addressed to the user, an
// error wrapping dowser.ErrUnknownReason for a retired or unknown reason,
// and one wrapping dowser.ErrReasonMisfit for a rejection whose reason
// does not fit dowser.HandoffReject (but for the rejection and reason
// stored already). An acceptance may carry any active reason. h must be
// valid (h.Validate).
func (s *Alerts) DecideHandoff(ctx context.Context, userID, alertID string, h dowser.Handoff) (moved bool, err error) {
	var reason *string
	if h.Reason != "" {
		reason = &h.Reason
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			UPDATE deliveries SET handoff = $3, handoff_reason = $4, handoff_note = $5, handoff_at = now(),
				seen_at = coalesce(seen_at, now())
			WHERE user_id = $1 AND alert_id = $2
				AND ($4::text IS NULL OR EXISTS (SELECT 1 FROM feedback_reasons r WHERE r.id = $4 AND NOT r.retired
					AND ($3::text <> 'reject' OR 'reject' = ANY(r.kinds) OR (deliveries.handoff = $3 AND deliveries.handoff_reason = $4))))`,
			userID, alertID, h.Decision, reason, h.Note)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			if reason != nil {
				kind := ""
				if h.Decision == dowser.HandoffReject {
					kind = dowser.HandoffReject
				}
				if err := refuseReason(ctx, tx, h.Reason, kind); err != nil {
					return err
				}
			}
			return fmt.Errorf("alert %s for %s: %w", alertID, userID, dowser.ErrNotFound)
		}
		if h.Decision != dowser.HandoffAccept {
			return nil
		}
		var n int
		if err := tx.QueryRow(ctx, handoffMoveSQL, alertID, userID).Scan(&n); err != nil {
			return err
		}
		moved = n > 0
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("deciding the handoff of %s: %w", alertID, err)
	}
	return moved, nil
}

// HandoffDecisions returns the user's decisions on the handoffs of the
// alerts, for those of them addressed to the user and decided, in no
// particular order.
func (s *Alerts) HandoffDecisions(ctx context.Context, userID string, alertIDs []string) ([]dowser.HandoffDecision, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT alert_id, handoff, coalesce(handoff_reason, ''), handoff_note, handoff_at FROM deliveries
		WHERE user_id = $1 AND alert_id = ANY($2) AND handoff IS NOT NULL`, userID, alertIDs)
	if err != nil {
		return nil, fmt.Errorf("reading handoff decisions: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (dowser.HandoffDecision, error) {
		var d dowser.HandoffDecision
		err := row.Scan(&d.AlertID, &d.Decision, &d.Reason, &d.Note, &d.DecidedAt)
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("reading handoff decisions: %w", err)
	}
	if out == nil {
		out = []dowser.HandoffDecision{}
	}
	return out, nil
}

// handoffOutcomeColumns are the dowser.HandoffOutcome counts of deliveries
// d, after its key and name.
const handoffOutcomeColumns = `
	count(*),
	count(*) FILTER (WHERE d.handoff = 'accept'),
	count(*) FILTER (WHERE d.handoff = 'reject'),
	(count(*) FILTER (WHERE d.handoff = 'accept'))::float8 / nullif(count(d.handoff), 0),
	percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM d.handoff_at - d.created_at))
		FILTER (WHERE d.handoff = 'accept')`

// HandoffReport reads the acceptance of the handoffs of the alerts fired
// in the last weeks weeks (the current week and the weeks-1 before it):
// per signal, and per rep with their name. Only the deliveries to sales
// (reps and managers) count: a marketer receiving a content owner's copy
// is not handed an account.
func (s *Alerts) HandoffReport(ctx context.Context, now time.Time, weeks int) (dowser.HandoffReport, error) {
	if weeks < 1 {
		return dowser.HandoffReport{}, fmt.Errorf("handoff report over %d weeks: want at least 1", weeks)
	}
	since := dowser.WeekStart(now).AddDate(0, 0, -7*(weeks-1))
	rep := dowser.HandoffReport{Weeks: weeks, Since: since}
	collect := func(rows pgx.Rows, err error) ([]dowser.HandoffOutcome, error) {
		if err != nil {
			return nil, err
		}
		out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[dowser.HandoffOutcome])
		if out == nil {
			out = []dowser.HandoffOutcome{}
		}
		return out, err
	}
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
		var err error
		rep.Signals, err = collect(tx.Query(ctx, `
			SELECT a.signal_id, '',`+handoffOutcomeColumns+`
			FROM deliveries d JOIN alerts a ON a.id = d.alert_id JOIN users u ON u.id = d.user_id AND u.role IN ('rep', 'manager')
			WHERE a.created_at >= $1 GROUP BY a.signal_id ORDER BY a.signal_id`, since))
		if err != nil {
			return err
		}
		rep.Reps, err = collect(tx.Query(ctx, `
			SELECT d.user_id, min(u.name),`+handoffOutcomeColumns+`
			FROM deliveries d JOIN alerts a ON a.id = d.alert_id JOIN users u ON u.id = d.user_id AND u.role IN ('rep', 'manager')
			WHERE a.created_at >= $1 GROUP BY d.user_id ORDER BY d.user_id`, since))
		return err
	})
	if err != nil {
		return rep, fmt.Errorf("reading the handoff report: %w", err)
	}
	return rep, nil
}
