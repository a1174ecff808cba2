package notify

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/dowserhq/dowser/schema"
)

type fakeDirectory struct {
	accounts map[string]string
	content  map[string]string // id or url prefix -> owner
}

func (f fakeDirectory) AccountOwner(_ context.Context, id string) (string, error) {
	return f.accounts[id], nil
}

func (f fakeDirectory) ContentOwners(_ context.Context, ids, urls []string) ([]string, error) {
	var out []string
	for key, owner := range f.content {
		if slices.Contains(ids, key) || slices.ContainsFunc(urls, func(u string) bool { return strings.HasPrefix(u, key) }) {
			out = append(out, owner)
		}
	}
	return out, nil
}

func TestRecipients(t *testing.T) {
	dir := fakeDirectory{
		accounts: map[string]string{"acme": "rep-ana", "orphan": ""},
		content:  map[string]string{"pricing-page": "mkt-jane", "https://x/docs/": "mkt-omar"},
	}
	tests := []struct {
		name  string
		alert schema.Alert
		want  []string
	}{
		{"account owner and content owner by id",
			schema.Alert{AccountID: "acme", SignalOwner: "mkt-sig", Evidence: []schema.Evidence{{ContentID: "pricing-page"}}},
			[]string{"mkt-jane", "rep-ana"}},
		{"content owner by url prefix, deduplicated",
			schema.Alert{AccountID: "acme", SignalOwner: "mkt-sig", Evidence: []schema.Evidence{{URL: "https://x/docs/a"}, {URL: "https://x/docs/b"}}},
			[]string{"mkt-omar", "rep-ana"}},
		{"no owned content: the signal's owner",
			schema.Alert{AccountID: "acme", SignalOwner: "mkt-sig", Evidence: []schema.Evidence{{URL: "https://x/blog"}}},
			[]string{"mkt-sig", "rep-ana"}},
		{"account without owner",
			schema.Alert{AccountID: "orphan", SignalOwner: "mkt-sig"},
			[]string{"mkt-sig"}},
		{"no account at all",
			schema.Alert{SignalOwner: "mkt-sig", Evidence: []schema.Evidence{{ContentID: "pricing-page"}}},
			[]string{"mkt-jane"}},
		{"rep is also the signal owner",
			schema.Alert{AccountID: "acme", SignalOwner: "rep-ana"},
			[]string{"rep-ana"}},
	}
	r := NewRouter(dir)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := r.Recipients(context.Background(), &tt.alert)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("Recipients = %v, want %v", got, tt.want)
			}
		})
	}
}
