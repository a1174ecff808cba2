package dowser

import (
	"strings"
	"testing"
	"time"

	"github.com/dowserhq/dowser/schema"
)

func TestURLPathKeepsThePathOnly(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"https://example.com/pricing?email=a@b.example#top", "/pricing"},
		{"https://user:secret@example.com/docs/a?x=1", "/docs/a"},
		{"https://example.com", ""},
		{"https://example.com?q=/x", ""},
		{"//cdn.example.com/p#f", "/p"},
		{"/relative/path?token=1", "/relative/path"},
		{"mailto:a@b.example", ""},
		{"", ""},
	} {
		if got := urlPath(c.in); got != c.want {
			t.Errorf("urlPath(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestJourneyItemOfIsSmall(t *testing.T) {
	long := strings.Repeat("é", 400) // 800 bytes
	ev := &schema.Event{ID: "e1", Type: "support_email", Time: time.Unix(0, 0),
		Customer:   schema.Customer{ID: "c-1", AnonymousID: "a-1", AccountID: "acme", Email: "c1@acme.example"},
		Properties: map[string]any{"subject": long, "body": "secret", "url": "https://x.example/" + long}}
	it := JourneyItemOf(ev)
	if it.Title == "" || len(it.Title) > maxJourneyTitle || !strings.HasPrefix(long, it.Title) {
		t.Errorf("title of %d bytes, want the subject cut at a character boundary to at most %d", len(it.Title), maxJourneyTitle)
	}
	if len(it.URLPath) > maxJourneyPath || !strings.HasPrefix(it.URLPath, "/é") {
		t.Errorf("url path %q…: want the path cut to at most %d bytes", it.URLPath[:10], maxJourneyPath)
	}
	if it.CustomerID != "c-1" || it.AnonymousID != "a-1" || it.AccountID != "acme" {
		t.Errorf("who = %+v", it)
	}
}
