package pipeline

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// lifecycleCache remembers account lifecycles and names briefly, so that
// events of the same account do not each cost a query.
type lifecycleCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]lifecycleEntry
}

type lifecycleEntry struct {
	lifecycle, name string
	expires         time.Time
}

func (c *lifecycleCache) get(ctx context.Context, store AccountStore, accountID string) (lifecycleEntry, error) {
	now := time.Now()
	c.mu.Lock()
	e, ok := c.m[accountID]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e, nil
	}
	lc, name, err := store.AccountProfile(ctx, accountID)
	if err != nil {
		return lifecycleEntry{}, fmt.Errorf("looking up account %q: %w", accountID, err)
	}
	e = lifecycleEntry{lifecycle: lc, name: name, expires: now.Add(c.ttl)}
	c.mu.Lock()
	if len(c.m) > 100_000 {
		clear(c.m) // bound memory; a cold cache only costs queries
	}
	c.m[accountID] = e
	c.mu.Unlock()
	return e, nil
}
