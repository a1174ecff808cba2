package pipeline

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/detector"
)

// signalSnapshot is one immutable view of the enabled signals.
type signalSnapshot struct {
	revision string
	signals  []*detector.Signal
	// next is closed when a newer snapshot replaces this one.
	next chan struct{}
}

// SignalStore is where the pipeline reads the signals: *postgres.Signals.
type SignalStore interface {
	SignalsRevision(ctx context.Context) (string, error)
	ListSignals(ctx context.Context) ([]dowser.StoredSignal, error)
}

// signalSet keeps the enabled signals in step with PostgreSQL, so that a
// change reaches every partition's engine within one poll interval.
type signalSet struct {
	store SignalStore
	every time.Duration
	log   *slog.Logger
	cur   atomic.Pointer[signalSnapshot]
	// maxEnabled is --max-enabled-signals, for the warning when more are
	// enabled (the flag was lowered); 0: none.
	maxEnabled int
	// compiled counts the signals parsed and compiled since start: a
	// reload compiles only those whose id or version is new.
	compiled atomic.Int64
}

func newSignalSet(store SignalStore, every time.Duration, log *slog.Logger) *signalSet {
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
	// A version is immutable: what the current snapshot compiled of it
	// stays good. With thousands of signals, compiling them all for every
	// save took seconds.
	type idVersion struct {
		id      string
		version int
	}
	have := map[idVersion]*detector.Signal{}
	for _, sig := range s.cur.Load().signals {
		have[idVersion{sig.ID, sig.Version}] = sig
	}
	var sigs []*detector.Signal
	compiled := 0
	for _, st := range stored {
		if !st.Enabled {
			continue
		}
		if sig := have[idVersion{st.ID, st.Version}]; sig != nil {
			sigs = append(sigs, sig)
			continue
		}
		compiled++
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
	s.compiled.Add(int64(compiled))
	if s.maxEnabled > 0 && len(sigs) > s.maxEnabled {
		// Enabled before the limit was lowered: they all run, but no more
		// can be enabled until enough are disabled.
		s.log.Warn("more signals enabled than --max-enabled-signals allows; all run, none more can be enabled", "enabled", len(sigs), "max_enabled_signals", s.maxEnabled)
	}
	old := s.cur.Swap(&signalSnapshot{revision: rev, signals: sigs, next: make(chan struct{})})
	close(old.next)
	s.log.Info("signals loaded", "enabled", len(sigs), "compiled", compiled, "revision", rev)
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
