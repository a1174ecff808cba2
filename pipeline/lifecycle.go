package pipeline

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// lifecycleCache remembers account lifecycles briefly, so that events of
// the same account do not each cost a query.
type lifecycleCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]lifecycleEntry
}

type lifecycleEntry struct {
	lifecycle string
	expires   time.Time
}

func (c *lifecycleCache) get(ctx context.Context, store AccountStore, accountID string) (string, error) {
	now := time.Now()
	c.mu.Lock()
	e, ok := c.m[accountID]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.lifecycle, nil
	}
	lc, err := store.AccountLifecycle(ctx, accountID)
	if err != nil {
		return "", fmt.Errorf("looking up lifecycle of account %q: %w", accountID, err)
	}
	c.mu.Lock()
	if len(c.m) > 100_000 {
		clear(c.m) // bound memory; a cold cache only costs queries
	}
	c.m[accountID] = lifecycleEntry{lifecycle: lc, expires: now.Add(c.ttl)}
	c.mu.Unlock()
	return lc, nil
}
