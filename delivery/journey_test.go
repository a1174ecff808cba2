package delivery_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/delivery"
)

// fakeJourney answers every timeline with its items (up to the limit) or
// its error, and keeps the queries; block makes it wait for the caller to
// give up.
type fakeJourney struct {
	mu      sync.Mutex
	items   []dowser.JourneyItem
	err     error
	block   bool
	queries []dowser.TimelineQuery
}

func (f *fakeJourney) Timeline(ctx context.Context, q dowser.TimelineQuery) (dowser.TimelinePage, error) {
	f.mu.Lock()
	f.queries = append(f.queries, q)
	f.mu.Unlock()
	if f.block {
		<-ctx.Done()
		return dowser.TimelinePage{}, fmt.Errorf("reading a journey: %w", ctx.Err())
	}
	if f.err != nil {
		return dowser.TimelinePage{}, f.err
	}
	page := dowser.TimelinePage{Items: f.items}
	if len(page.Items) > q.Limit {
		page.Items = page.Items[:q.Limit]
		page.Next = &dowser.TimelineCursor{}
	}
	return page, nil
}

// chatReceiver keeps the last body posted to each path.
func chatReceiver(t *testing.T) (url string, body func(path string) string) {
	var mu sync.Mutex
	bodies := map[string]string{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies[r.URL.Path] = string(b)
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func(path string) string {
		mu.Lock()
		defer mu.Unlock()
		return bodies[path]
	}
}

// journeyItems are seven items of acme's journey, newest first: the
// newest on the pricing page, whose content has a talking point.
func journeyItems() []dowser.JourneyItem {
	at := time.Date(2026, 12, 2, 9, 41, 0, 0, time.UTC)
	items := []dowser.JourneyItem{
		{EventID: "e7", Type: "page_view", Time: at, AccountID: "acme", CustomerID: "c-1842", ContentID: "pricing-page", Title: "Pricing",
			ContentTitle: "Pricing", TalkingPoint: "Ask how many seats they plan."},
		{EventID: "e6", Type: "page_view", Time: at.Add(-time.Hour), AccountID: "acme", AnonymousID: "anon-9", Title: "Compare <plans> & prices"},
		{EventID: "e5", Type: "download", Time: at.Add(-26 * time.Hour), AccountID: "acme", CustomerID: "c-2", ContentID: "roi-guide"},
	}
	for i := 4; i >= 1; i-- {
		items = append(items, dowser.JourneyItem{EventID: fmt.Sprintf("e%d", i), Type: "page_view", Time: at.Add(-time.Duration(50-i) * time.Hour),
			AccountID: "acme", CustomerID: "c-1842", Title: fmt.Sprintf("Old page %d", i)})
	}
	return items
}

// TestMessagesCarryTheJourneySummary sends an alert to Slack, Teams, a
// webhook and by mail with a journey of seven items, and finds in each the
// five newest (day, title or content id, who, talking point) and "and 2
// more" with the panel's link, in place of the alert's evidence.
func TestMessagesCarryTheJourneySummary(t *testing.T) {
	url, body := chatReceiver(t)
	mb, addr := startMailbox(t)
	alert := json.RawMessage(`{"id":"al-1","priority":"urgent","message":"Acme: pricing","signal_name":"Pricing","account_id":"acme","customer_id":"c-1842",
		"evidence":[{"event_id":"ev-1","type":"page_view","time":"2026-12-02T09:41:00Z","title":"Evidence page"}]}`)
	to := func(id string, kind dowser.ChannelKind, target string) dowser.ChannelDelivery {
		return dowser.ChannelDelivery{ID: id, AlertID: "al-1", UserID: "rep-ana", ChannelID: 1, CreatedAt: time.Now(),
			Channel: dowser.Channel{Kind: kind, Target: target, Secret: "receiver-secret-0123456789"}, Alert: alert}
	}
	store := &fakeStore{due: []dowser.ChannelDelivery{to("d-s", dowser.ChannelSlack, url+"/slack"), to("d-t", dowser.ChannelTeams, url+"/teams"),
		to("d-w", dowser.ChannelWebhook, url+"/hook"), to("d-m", dowser.ChannelEmail, "ana@example.com")}}
	reader := &fakeJourney{items: journeyItems()}
	d, err := delivery.New(delivery.Config{Store: store, Journey: reader, PanelURL: "https://dowser.example.com/",
		SMTP: delivery.SMTP{Addr: addr, From: "dowser@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := d.Round(context.Background()); err != nil {
		t.Fatal(err)
	}
	end := time.Now()
	for id, got := range store.outcome {
		if got != "sent" {
			t.Errorf("delivery %s: %q, want sent", id, got)
		}
	}
	for _, q := range reader.queries {
		if q.AccountID != "acme" || q.CustomerID != "" || q.Since.Before(start.Add(-7*24*time.Hour)) || q.Since.After(end.Add(-7*24*time.Hour)) {
			t.Errorf("journey read as %+v, want acme's of the last 7 days", q)
		}
	}
	if len(reader.queries) != 4 {
		t.Errorf("journey read %d times, want once per delivery (4)", len(reader.queries))
	}

	// Slack: one section with the summary, the talking point quoted.
	var slack struct {
		Blocks []struct {
			Type string
			Text struct{ Text string }
		}
	}
	if err := json.Unmarshal([]byte(body("/slack")), &slack); err != nil {
		t.Fatalf("slack body: %v: %s", err, body("/slack"))
	}
	var summary string
	for _, b := range slack.Blocks {
		if b.Type == "section" && strings.HasPrefix(b.Text.Text, "*Journey, last 7 days*") {
			summary = b.Text.Text
		}
	}
	for _, want := range []string{
		"\nWed 2 Dec 09:41 · Pricing · c-1842\n>Talking point: Ask how many seats they plan.\n",
		"\nWed 2 Dec 08:41 · Compare &lt;plans&gt; &amp; prices · anon-9\n",
		"\nTue 1 Dec 07:41 · roi-guide · c-2\n",
		"Old page 4", "Old page 3",
		"\nand 2 more in Dowser: https://dowser.example.com/",
	} {
		if !strings.Contains(summary, want) {
			t.Errorf("slack summary lacks %q:\n%s", want, summary)
		}
	}
	for _, not := range []string{"Old page 2", "Old page 1", "Evidence page", "<plans>"} {
		if strings.Contains(body("/slack"), not) {
			t.Errorf("slack message holds %q:\n%s", not, body("/slack"))
		}
	}

	// Teams: a heading and the items as one text block.
	teams := body("/teams")
	for _, want := range []string{`"text":"Journey, last 7 days"`,
		`Wed 2 Dec 09:41 · Pricing · c-1842\n\n_Talking point: Ask how many seats they plan._\n\nWed 2 Dec 08:41 · Compare \u003cplans\u003e \u0026 prices · anon-9`,
		`and 2 more in Dowser: https://dowser.example.com/`} {
		if !strings.Contains(teams, want) {
			t.Errorf("teams card lacks %s:\n%s", want, teams)
		}
	}
	if strings.Contains(teams, "Old page 2") || strings.Contains(teams, "Evidence page") {
		t.Errorf("teams card holds more than the five newest items, or the evidence:\n%s", teams)
	}

	// Webhook: the items as the timeline gives them, the rest counted.
	var wh delivery.Webhook
	if err := json.Unmarshal([]byte(body("/hook")), &wh); err != nil {
		t.Fatalf("webhook body: %v: %s", err, body("/hook"))
	}
	if len(wh.Journey) != 5 || wh.Journey[0].EventID != "e7" || wh.Journey[0].TalkingPoint != "Ask how many seats they plan." || wh.Journey[4].EventID != "e3" ||
		wh.JourneyMore != 2 || wh.JourneyMoreAtLeast {
		t.Errorf("webhook journey %+v, more %d (at least: %v); want e7…e3 and 2 more", wh.Journey, wh.JourneyMore, wh.JourneyMoreAtLeast)
	}

	// Mail: the summary in the text.
	mails := mb.all()
	if len(mails) != 1 {
		t.Fatalf("%d mails, want 1", len(mails))
	}
	text := decodeQP(t, mails[0].body)
	for _, want := range []string{
		"Journey, last 7 days:\n  Wed 2 Dec 09:41 · Pricing · c-1842\n    Talking point: Ask how many seats they plan.\n  Wed 2 Dec 08:41 · Compare <plans> & prices · anon-9\n",
		"  and 2 more in Dowser: https://dowser.example.com/\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("mail lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "Evidence page") {
		t.Errorf("mail shows the evidence besides the journey:\n%s", text)
	}
}

// TestJourneySummaryOfAPersonCountsAtMostAHundred reads the journey of an
// alert without an account by its person, and says "95+ more" when the
// window holds more than it counts.
func TestJourneySummaryOfAPersonCountsAtMostAHundred(t *testing.T) {
	url, body := chatReceiver(t)
	var items []dowser.JourneyItem
	for i := range 150 {
		items = append(items, dowser.JourneyItem{EventID: fmt.Sprint(i), Type: "page_view", Time: time.Now(), CustomerID: "c-7", Title: "Docs"})
	}
	reader := &fakeJourney{items: items}
	store := &fakeStore{due: []dowser.ChannelDelivery{{ID: "d-s", AlertID: "al-1", ChannelID: 1, CreatedAt: time.Now(),
		Channel: dowser.Channel{Kind: dowser.ChannelSlack, Target: url + "/slack"}, Alert: json.RawMessage(`{"id":"al-1","customer_id":"c-7"}`)}}}
	d, err := delivery.New(delivery.Config{Store: store, Journey: reader, JourneyWindow: 3 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Round(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(reader.queries) != 1 || reader.queries[0].CustomerID != "c-7" || reader.queries[0].AccountID != "" {
		t.Errorf("journey queries %+v, want one of person c-7", reader.queries)
	}
	if got := body("/slack"); !strings.Contains(got, "*Journey, last 3 days*") || !strings.Contains(got, `\nand 95+ more in Dowser"`) {
		t.Errorf("slack message lacks the 3-day heading or \"and 95+ more\":\n%s", got)
	}
}

// TestJourneyFailureSendsTheMessageWithout makes the journey fail, then
// hang: the messages go at once (within the journey's timeout) with the
// alert's evidence instead of a summary; without a reader (the journey
// off) nothing is read.
func TestJourneyFailureSendsTheMessageWithout(t *testing.T) {
	for _, tc := range []struct {
		name   string
		reader *fakeJourney
	}{
		{"failing", &fakeJourney{err: errors.New("reading a journey: connection refused")}},
		{"hanging", &fakeJourney{block: true}},
		{"off", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, body := chatReceiver(t)
			alert := json.RawMessage(`{"id":"al-1","priority":"high","account_id":"acme",
				"evidence":[{"event_id":"ev-1","type":"page_view","time":"2026-12-02T09:41:00Z","title":"Evidence page"}]}`)
			store := &fakeStore{due: []dowser.ChannelDelivery{{ID: "d-s", AlertID: "al-1", ChannelID: 1, CreatedAt: time.Now(),
				Channel: dowser.Channel{Kind: dowser.ChannelSlack, Target: url + "/slack"}, Alert: alert}}}
			cfg := delivery.Config{Store: store, JourneyTimeout: 200 * time.Millisecond}
			if tc.reader != nil {
				cfg.Journey = tc.reader
			}
			d, err := delivery.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := d.Round(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := store.outcome["d-s"]; got != "sent" {
				t.Errorf("delivery: %q, want sent", got)
			}
			got := body("/slack")
			if !strings.Contains(got, "09:41 page_view: Evidence page") || strings.Contains(got, "Journey, last") {
				t.Errorf("slack message without a journey should show the evidence and no summary:\n%s", got)
			}
			if tc.reader != nil && len(tc.reader.queries) != 1 {
				t.Errorf("journey read %d times, want 1", len(tc.reader.queries))
			}
		})
	}
}
