package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/dowserhq/dowser/notify"
	"github.com/dowserhq/dowser/postgres"
)

// revocations carries ended credentials (logout, rotated token, disabled
// or deleted user) recorded by any instance to this instance's websockets:
// it polls PostgreSQL's revocations and has the hub re-check the sockets
// of each user named, which closes those whose credential ended.
type revocations struct {
	store *postgres.Store
	hub   *notify.Hub
	every time.Duration
	log   *slog.Logger
	last  int64
}

// revocationKeep is how long a revocation is kept for instances to read;
// an instance that cannot poll for this long has lost its database anyway.
const revocationKeep = time.Hour

// load starts from the newest revocation: sockets opened from now on were
// authenticated after any older one.
func (v *revocations) load(ctx context.Context) (err error) {
	v.last, err = v.store.LastRevocation(ctx)
	return err
}

// Run polls until ctx ends; storage errors are logged and retried on the
// next tick.
func (v *revocations) Run(ctx context.Context) error {
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
			v.log.Warn("polling session revocations", "err", err)
		}
		if time.Since(lastPrune) > revocationKeep/4 {
			lastPrune = time.Now()
			if err := v.store.PruneRevocations(ctx, revocationKeep); err != nil && ctx.Err() == nil {
				v.log.Warn("pruning session revocations", "err", err)
			}
		}
	}
}

func (v *revocations) poll(ctx context.Context) error {
	for {
		rs, err := v.store.RevocationsAfter(ctx, v.last, 1000)
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
