package demo

import (
	"context"
	"fmt"

	"github.com/dowserhq/dowser"
)

// DefaultStages is the stage model the demo starts with: research moves a
// prospect's account to engaged, buying intent to marketing-qualified; a
// rep's accepted handoff makes it sales-accepted; the opportunity stage is
// the sales team's to set (no signal moves an account there).
func DefaultStages() dowser.StageModel {
	return dowser.StageModel{
		Stages: []dowser.Stage{
			{ID: "engaged", Label: "Engaged", Signals: []string{"integration-docs", "webinar-no-follow-up"}},
			{ID: "marketing-qualified", Label: "Marketing-qualified", Signals: []string{"pricing-research", "competitor-comparison", "webinar-then-pricing", "account-surge"}},
			{ID: "sales-accepted", Label: "Sales-accepted", Signals: []string{}},
			{ID: "opportunity", Label: "Opportunity", Signals: []string{}},
		},
		Accepted: "sales-accepted",
	}
}

// seedStages saves DefaultStages when no stage model was saved yet, so
// that a model the marketers changed stays theirs.
func seedStages(ctx context.Context, store Stores) error {
	if store.Stages == nil {
		return nil
	}
	cur, err := store.Stages.StageModel(ctx)
	if err != nil {
		return fmt.Errorf("reading the stage model: %w", err)
	}
	if cur.Version > 0 {
		return nil
	}
	if _, err := store.Stages.SaveStageModel(ctx, DefaultStages(), "demo"); err != nil {
		return fmt.Errorf("seeding the stage model: %w", err)
	}
	return nil
}
