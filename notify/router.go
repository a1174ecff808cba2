package notify

import (
	"context"
	"fmt"
	"slices"

	"github.com/dowserhq/dowser/schema"
)

// Directory answers the ownership questions routing asks.
type Directory interface {
	// AccountOwner returns the rep who owns the account, or "" for none.
	AccountOwner(ctx context.Context, accountID string) (string, error)
	// ContentOwners returns the owners of the content items with one of the
	// ids, or whose URL prefix one of the urls starts with.
	ContentOwners(ctx context.Context, contentIDs, urls []string) ([]string, error)
}

// Router decides an alert's recipients.
type Router struct {
	dir Directory
}

// NewRouter returns a router asking dir.
func NewRouter(dir Directory) *Router { return &Router{dir: dir} }

// Recipients returns, without duplicates and sorted, the users who receive
// the alert: the owner of the alert's account (the sales side), and the
// owner of every content item in the evidence, else the signal's owner (the
// marketing side).
func (r *Router) Recipients(ctx context.Context, a *schema.Alert) ([]string, error) {
	var out []string
	if a.AccountID != "" {
		owner, err := r.dir.AccountOwner(ctx, a.AccountID)
		if err != nil {
			return nil, fmt.Errorf("routing %s: %w", a.ID, err)
		}
		if owner != "" {
			out = append(out, owner)
		}
	}
	var ids, urls []string
	for _, ev := range a.Evidence {
		if ev.ContentID != "" {
			ids = append(ids, ev.ContentID)
		}
		if ev.URL != "" {
			urls = append(urls, ev.URL)
		}
	}
	marketers, err := r.dir.ContentOwners(ctx, ids, urls)
	if err != nil {
		return nil, fmt.Errorf("routing %s: %w", a.ID, err)
	}
	if len(marketers) == 0 && a.SignalOwner != "" {
		marketers = []string{a.SignalOwner}
	}
	out = append(out, marketers...)
	slices.Sort(out)
	return slices.Compact(out), nil
}
