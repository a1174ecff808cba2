package notify

import (
	"context"
	"log/slog"
	"time"

	"github.com/dowserhq/dowser/schema"
)

// RevocationLog is where every instance records ended credentials, in
// commit order.
type RevocationLog interface {
	// LastRevocation is the highest sequence recorded, 0 for none.
	LastRevocation(ctx context.Context) (int64, error)
	// RevocationsAfter returns up to limit revocations above seq, in order.
	RevocationsAfter(ctx context.Context, seq int64, limit int) ([]schema.Revocation, error)
	// PruneRevocations forgets revocations older than age.
	PruneRevocations(ctx context.Context, age time.Duration) error
}

// RevocationWatcher carries ended credentials (logout, rotated token,
// disabled or deleted user) recorded by any instance to this instance's
// websockets: it polls the log and has the hub re-check the sockets of
// each user named, which closes those whose credential ended.
type RevocationWatcher struct {
	log   RevocationLog
	hub   *Hub
	every time.Duration
	warn  *slog.Logger
	last  int64
}

// revocationKeep is how long a revocation is kept for instances to read;
// an instance that cannot poll for this long has lost its database anyway.
const revocationKeep = time.Hour

// NewRevocationWatcher starts from the newest revocation in log: sockets
// opened from now on were authenticated after any older one.
func NewRevocationWatcher(ctx context.Context, log RevocationLog, hub *Hub, every time.Duration, logger *slog.Logger) (*RevocationWatcher, error) {
	last, err := log.LastRevocation(ctx)
	if err != nil {
		return nil, err
	}
	return &RevocationWatcher{log: log, hub: hub, every: every, warn: logger, last: last}, nil
}

// Run polls every interval until ctx ends; storage errors are logged and
// retried on the next tick.
func (v *RevocationWatcher) Run(ctx context.Context) error {
	tick := time.NewTicker(v.every)
	defer tick.Stop()
	lastPrune := time.Time{}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if err := v.poll(ctx); err != nil && ctx.Err() == nil {
			v.warn.Warn("polling session revocations", "err", err)
		}
		if time.Since(lastPrune) > revocationKeep/4 {
			lastPrune = time.Now()
			if err := v.log.PruneRevocations(ctx, revocationKeep); err != nil && ctx.Err() == nil {
				v.warn.Warn("pruning session revocations", "err", err)
			}
		}
	}
}

func (v *RevocationWatcher) poll(ctx context.Context) error {
	for {
		rs, err := v.log.RevocationsAfter(ctx, v.last, 1000)
		if err != nil {
			return err
		}
		users := map[string]bool{}
		for _, r := range rs {
			users[r.UserID] = true
			v.last = r.Seq
		}
		for u := range users {
			v.hub.Recheck(ctx, u)
		}
		if len(rs) < 1000 {
			return nil
		}
	}
}
