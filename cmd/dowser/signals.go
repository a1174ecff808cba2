package main

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/dowserhq/dowser/detector"
	"github.com/dowserhq/dowser/postgres"
)

// signalSnapshot is one immutable view of the enabled signals.
type signalSnapshot struct {
	revision string
	signals  []*detector.Signal
	// next is closed when a newer snapshot replaces this one.
	next chan struct{}
}

// signalSet keeps the enabled signals in step with PostgreSQL, so that a
// change reaches every partition's engine within one poll interval.
type signalSet struct {
	store *postgres.Store
	every time.Duration
	log   *slog.Logger
	cur   atomic.Pointer[signalSnapshot]
}

func newSignalSet(store *postgres.Store, every time.Duration, log *slog.Logger) *signalSet {
	s := &signalSet{store: store, every: every, log: log}
	s.cur.Store(&signalSnapshot{next: make(chan struct{})})
	return s
}

// current returns the latest snapshot; engines compare it by pointer.
func (s *signalSet) current() *signalSnapshot { return s.cur.Load() }

// load reads the signals if their revision changed.
func (s *signalSet) load(ctx context.Context) error {
	rev, err := s.store.SignalsRevision(ctx)
	if err != nil {
		return err
	}
	if rev == s.cur.Load().revision {
		return nil
	}
	stored, err := s.store.ListSignals(ctx)
	if err != nil {
		return err
	}
	var sigs []*detector.Signal
	for _, st := range stored {
		if !st.Enabled {
			continue
		}
		sig, err := detector.ParseSignal(st.Document)
		if err != nil {
			// Stored documents were validated on save; one that no longer
			// parses (after a language change) must not stop the others.
			s.log.Error("stored signal does not parse; skipping it", "signal", st.ID, "version", st.Version, "err", err)
			continue
		}
		sig.Version = st.Version
		sigs = append(sigs, sig)
	}
	old := s.cur.Swap(&signalSnapshot{revision: rev, signals: sigs, next: make(chan struct{})})
	close(old.next)
	s.log.Info("signals loaded", "enabled", len(sigs), "revision", rev)
	return nil
}

// Run polls for changes until ctx ends. A failed poll is logged and retried
// at the next tick; the detectors keep the signals they have.
func (s *signalSet) Run(ctx context.Context) error {
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := s.load(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("reloading signals", "err", err)
			}
		}
	}
}
