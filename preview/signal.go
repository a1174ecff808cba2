package preview

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/dowserhq/dowser/backtest"
	"github.com/dowserhq/dowser/detector"
	"github.com/dowserhq/dowser/formats"
	"github.com/dowserhq/dowser/kafka"
	"github.com/dowserhq/dowser/schema"
)

// Signal runs the backtest of a signal over the events topic's recent
// history, for the console's "what would this have fired" preview.
type Signal struct {
	// Kafka is the cluster of the topic.
	Kafka kafka.Cluster
	// Topic is the topic the detector reads: the events topic, or the
	// resolved topic.
	Topic string
	// Mapping reads the topic's messages (its format and field mapping);
	// nil reads Dowser's envelope.
	Mapping *formats.Mapping
	Store   AccountOwners
	// MaxEvents bounds the events one preview reads: the newest of each
	// partition, shared out evenly; 0: no bound.
	MaxEvents int64
	// Timeout bounds the time one preview takes; what it read by then is
	// its answer. 0: no bound.
	Timeout time.Duration
	// Started, when set, is called as a preview starts reading events
	// (tests hold previews with it).
	Started func(ctx context.Context)
	// Names, when set, names the reps and accounts of the answer.
	Names Names
}

// Names answers the directory's names of users and accounts, by id:
// *postgres.Directory.
type Names interface {
	UserNames(ctx context.Context, ids []string) (map[string]string, error)
	AccountNames(ctx context.Context, ids []string) (map[string]string, error)
}

// AccountOwners answers every account's owner and lifecycle, which the
// backtest routes and fills by: *postgres.Directory.
type AccountOwners interface {
	AccountOwners(ctx context.Context) (map[string][2]string, error)
}

// previewSummary is what a preview answers.
type previewSummary struct {
	Since        string                 `json:"since"`
	Events       int64                  `json:"events"`
	Invalid      int64                  `json:"invalid"`
	Alerts       int64                  `json:"alerts"`
	WhereStopped int64                  `json:"where_stopped"`
	ByDay        map[string]int64       `json:"by_day"`
	ByPriority   map[string]int64       `json:"by_priority"`
	ByRep        map[string]int64       `json:"by_rep"`
	Samples      []backtest.AlertRecord `json:"samples"`
	// RepNames and AccountNames name the reps of ByRep and Samples and
	// the accounts of Samples, where the directory has names.
	RepNames     map[string]string `json:"rep_names"`
	AccountNames map[string]string `json:"account_names"`
	// Stopped, when not empty, says which limit cut the preview short:
	// its counts cover only the events read.
	Stopped string `json:"stopped,omitempty"`
}

const previewSamples = 20

// Preview implements api.Previewer: it answers a summary of what sig
// would have fired on the events of the last since.
func (p Signal) Preview(parent context.Context, sig *detector.Signal, since time.Duration) (any, error) {
	ctx, cancel := parent, context.CancelFunc(func() {})
	if p.Timeout > 0 {
		ctx, cancel = context.WithTimeout(parent, p.Timeout)
	}
	defer cancel()
	owners, err := p.Store.AccountOwners(ctx)
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
		Mapping:  p.Mapping,
		OnAlert: func(a *schema.Alert, rep string) error {
			if len(out.Samples) < previewSamples {
				out.Samples = append(out.Samples, backtest.NewAlertRecord(a, rep))
			}
			return nil
		},
	})
	history, err := kafka.OpenHistory(ctx, p.Kafka, p.Topic, time.Now().Add(-since))
	if err != nil {
		return nil, err
	}
	if total := history.Messages(); p.MaxEvents > 0 && total > p.MaxEvents {
		keepNewest(history.Ranges, p.MaxEvents)
		out.Stopped = fmt.Sprintf("read only the newest %d of the %d events since %s, the most a preview reads (--max-preview-events); try a shorter since",
			p.MaxEvents, total, out.Since)
	}
	if p.Started != nil {
		p.Started(ctx)
	}
	err = runner.RunRecords(ctx, func(emit func(int, int64, []byte) error) error {
		return history.Read(ctx, emit)
	})
	if err != nil {
		// The preview's time limit keeps what was read; a client gone or
		// a failure does not.
		if ctx.Err() == nil || parent.Err() != nil {
			return nil, err
		}
		out.Stopped = fmt.Sprintf("stopped after %v, the most a preview runs (--preview-timeout): the counts cover the events read until then; try a shorter since", p.Timeout)
	}
	// As a backtest ends: silences and falls decided by the newest event
	// read count too.
	if err := runner.Finish(); err != nil {
		return nil, err
	}
	s := runner.Summary()
	out.Events, out.Invalid, out.Alerts, out.WhereStopped = s.Events, s.Invalid, s.Alerts, s.WhereStopped
	out.ByDay, out.ByPriority, out.ByRep = s.ByDay, s.ByPriority, s.ByRep
	if err := p.name(ctx, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// name fills in the names of the summary's reps and accounts.
func (p Signal) name(ctx context.Context, out *previewSummary) error {
	out.RepNames, out.AccountNames = map[string]string{}, map[string]string{}
	if p.Names == nil {
		return nil
	}
	var reps, accounts []string
	for rep := range out.ByRep {
		reps = append(reps, rep)
	}
	for _, a := range out.Samples {
		reps = append(reps, a.Rep)
		accounts = append(accounts, a.AccountID)
	}
	// A preview cut short by its time limit still names what it found.
	ctx = context.WithoutCancel(ctx)
	var err error
	if out.RepNames, err = p.Names.UserNames(ctx, reps); err != nil {
		return err
	}
	out.AccountNames, err = p.Names.AccountNames(ctx, accounts)
	return err
}

// keepNewest shrinks ranges to their newest offsets, at most n in all,
// shared out evenly: a partition with fewer than its share keeps them all
// and leaves the rest to the others.
func keepNewest(ranges []kafka.PartitionRange, n int64) {
	bySize := make([]*kafka.PartitionRange, len(ranges))
	for i := range ranges {
		bySize[i] = &ranges[i]
	}
	slices.SortFunc(bySize, func(a, b *kafka.PartitionRange) int {
		return int((a.End - a.Start) - (b.End - b.Start))
	})
	for i, r := range bySize {
		share := n / int64(len(bySize)-i)
		keep := min(r.End-r.Start, share)
		r.Start = r.End - keep
		n -= keep
	}
}
