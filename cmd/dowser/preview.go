package main

import (
	"context"
	"time"

	"github.com/dowserhq/dowser/backtest"
	"github.com/dowserhq/dowser/detector"
	"github.com/dowserhq/dowser/ingest"
	"github.com/dowserhq/dowser/postgres"
	"github.com/dowserhq/dowser/schema"
)

// previewer runs the backtest of a signal over the events topic's recent
// history, for the console's "what would this have fired" preview.
type previewer struct {
	brokers []string
	topic   string
	store   *postgres.Store
}

// previewSummary is what a preview answers.
type previewSummary struct {
	Since      string                 `json:"since"`
	Events     int64                  `json:"events"`
	Invalid    int64                  `json:"invalid"`
	Alerts     int64                  `json:"alerts"`
	ByDay      map[string]int64       `json:"by_day"`
	ByPriority map[string]int64       `json:"by_priority"`
	ByRep      map[string]int64       `json:"by_rep"`
	Samples    []backtest.AlertRecord `json:"samples"`
}

const previewSamples = 20

func (p previewer) Preview(ctx context.Context, sig *detector.Signal, since time.Duration) (any, error) {
	owners, err := p.store.AccountOwners(ctx)
	if err != nil {
		return nil, err
	}
	accounts := make(map[string]backtest.Account, len(owners))
	for id, o := range owners {
		accounts[id] = backtest.Account{Owner: o[0], Lifecycle: o[1]}
	}
	out := previewSummary{Since: detector.Duration(since).String(), Samples: []backtest.AlertRecord{}}
	runner := backtest.NewRunner(backtest.Config{
		Signals:  []*detector.Signal{sig},
		Accounts: accounts,
		OnAlert: func(a *schema.Alert, rep string) error {
			if len(out.Samples) < previewSamples {
				out.Samples = append(out.Samples, backtest.NewAlertRecord(a, rep))
			}
			return nil
		},
	})
	history, err := ingest.OpenHistory(ctx, p.brokers, p.topic, time.Now().Add(-since))
	if err != nil {
		return nil, err
	}
	if err := runner.RunRecords(ctx, func(emit func(int, int64, []byte) error) error {
		return history.Read(ctx, emit)
	}); err != nil {
		return nil, err
	}
	s := runner.Summary()
	out.Events, out.Invalid, out.Alerts = s.Events, s.Invalid, s.Alerts
	out.ByDay, out.ByPriority, out.ByRep = s.ByDay, s.ByPriority, s.ByRep
	return out, nil
}
