package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/dowserhq/dowser/deploy"
	"github.com/dowserhq/dowser/detector"
	"github.com/dowserhq/dowser/ingest"
	"github.com/dowserhq/dowser/postgres"
	"github.com/dowserhq/dowser/schema"
)

// demoUser is a seeded demo login. The tokens are fixed so the README can
// name them; they are for the local demo only.
type demoUser struct {
	postgres.User
	token string
}

var demoUsers = []demoUser{
	{postgres.User{ID: "admin", Name: "Administrator", Role: postgres.RoleAdmin}, "demo-admin-token"},
	{postgres.User{ID: "rep-ana", Name: "Ana Ruiz", Role: postgres.RoleRep}, "demo-rep-ana-token"},
	{postgres.User{ID: "rep-ben", Name: "Ben Okafor", Role: postgres.RoleRep}, "demo-rep-ben-token"},
	{postgres.User{ID: "rep-cho", Name: "Cho Min-jun", Role: postgres.RoleRep}, "demo-rep-cho-token"},
	{postgres.User{ID: "mkt-jane", Name: "Jane Hollis", Role: postgres.RoleMarketer}, "demo-mkt-jane-token"},
	{postgres.User{ID: "mkt-omar", Name: "Omar Haddad", Role: postgres.RoleMarketer}, "demo-mkt-omar-token"},
}

var demoAccounts = []string{
	"acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "wonka", "tyrell", "cyberdyne",
	"soylent", "massive", "aperture", "blackmesa", "oscorp", "monarch", "vandelay", "dunder", "pied-piper", "gringotts",
	"duff", "krusty", "nakatomi", "oceanic", "planet-express", "prestige", "sirius", "virtucon", "weyland", "zorg",
}

const demoSite = "https://dowser.example"

var demoContent = []postgres.Content{
	{ID: "pricing-page", Title: "Pricing", URLPrefix: demoSite + "/pricing", OwnerID: "mkt-jane"},
	{ID: "kafka-webinar", Title: "Webinar: real-time intent with Kafka", URLPrefix: demoSite + "/webinars/kafka", OwnerID: "mkt-jane"},
	{ID: "integration-docs", Title: "Integration guides", URLPrefix: demoSite + "/docs/integrations/", OwnerID: "mkt-omar"},
	{ID: "compare-page", Title: "Dowser vs. the others", URLPrefix: demoSite + "/compare", OwnerID: "mkt-jane"},
}

// seedDemo writes the demo users, accounts, content and the default signal
// pack. It is idempotent: a signal whose text is unchanged keeps its version.
func seedDemo(ctx context.Context, store *postgres.Store, log *slog.Logger) error {
	for _, u := range demoUsers {
		if err := store.PutUser(ctx, u.User, u.token); err != nil {
			return err
		}
	}
	reps := []string{"rep-ana", "rep-ben", "rep-cho"}
	for i, id := range demoAccounts {
		lc := schema.LifecycleProspect
		if i%3 == 2 {
			lc = schema.LifecycleCustomer
		}
		name := strings.ToUpper(id[:1]) + strings.ReplaceAll(id[1:], "-", " ")
		if err := store.PutAccount(ctx, postgres.Account{ID: id, Name: name, OwnerID: reps[i%len(reps)], Lifecycle: lc}); err != nil {
			return err
		}
	}
	for _, c := range demoContent {
		if err := store.PutContent(ctx, c); err != nil {
			return err
		}
	}
	files, err := fs.Glob(deploy.Signals, "signals/*.yaml")
	if err != nil {
		return fmt.Errorf("listing the signal pack: %w", err)
	}
	for _, f := range files {
		src, err := fs.ReadFile(deploy.Signals, f)
		if err != nil {
			return fmt.Errorf("reading %s: %w", f, err)
		}
		sig, err := detector.ParseSignal(src)
		if err != nil {
			return fmt.Errorf("signal pack %s: %w", f, err)
		}
		if cur, err := store.GetSignal(ctx, sig.ID); err == nil && cur.Source == string(src) {
			continue
		}
		doc, err := json.Marshal(sig)
		if err != nil {
			return fmt.Errorf("encoding %s: %w", f, err)
		}
		if _, err := store.SaveSignal(ctx, sig.ID, doc, string(src), "demo", true); err != nil {
			return err
		}
	}
	log.Info("demo data seeded", "users", len(demoUsers), "accounts", len(demoAccounts), "content", len(demoContent), "signals", len(files))
	return nil
}

func printDemoBanner(w io.Writer, httpAddr string) {
	fmt.Fprintf(w, "\n  Dowser demo is running.\n\n  Alert panel:  http://%s/\n\n  Log in with one of these tokens:\n", httpAddr)
	for _, u := range demoUsers {
		fmt.Fprintf(w, "    %-22s %-9s %s\n", u.token, u.Role, u.Name)
	}
	fmt.Fprintf(w, "\n  Alerts start arriving within a minute. Ctrl-C stops the demo.\n\n")
}

// traffic produces synthetic behaviour: mostly noise, with a few accounts
// at a time researching in earnest, so that signals fire now and then.
type traffic struct {
	rng *rand.Rand
	// hot maps an account in a buying phase to when the phase ends.
	hot map[string]time.Time
}

var (
	noisePages = []struct{ path, title string }{
		{"/", "Dowser: hear demand the moment it happens"},
		{"/blog/intent-data-is-stale", "Blog: intent data is stale by the time you read it"},
		{"/blog/sales-marketing-silos", "Blog: breaking the sales and marketing silo"},
		{"/blog/kafka-at-scale", "Blog: Kafka at scale"},
		{"/docs/getting-started", "Docs: getting started"},
		{"/careers", "Careers"},
		{"/about", "About us"},
		{"/customers", "Customer stories"},
	}
	integrationPages = []string{"salesforce", "hubspot", "segment", "snowflake", "slack", "zendesk"}
	supportSubjects  = []string{
		"Export keeps timing out", "How do I add more seats?", "We hit the event limit again",
		"Question about our invoice", "Outage this morning?", "Considering moving to a competitor",
		"SSO setup help", "Can we upgrade mid-term?",
	}
)

func (t *traffic) person(acct string) schema.Customer {
	n := t.rng.IntN(3) + 1
	return schema.Customer{
		ID:        fmt.Sprintf("c-%s-%d", acct, n),
		Email:     fmt.Sprintf("person%d@%s.example", n, acct),
		AccountID: acct,
	}
}

func (t *traffic) next(now time.Time) schema.Event {
	for acct, until := range t.hot {
		if now.After(until) {
			delete(t.hot, acct)
		}
	}
	if len(t.hot) < 3 && t.rng.IntN(40) == 0 {
		t.hot[demoAccounts[t.rng.IntN(len(demoAccounts))]] = now.Add(time.Duration(30+t.rng.IntN(60)) * time.Second)
	}
	ev := schema.Event{
		ID:     fmt.Sprintf("evt-%016x", t.rng.Uint64()),
		Type:   schema.TypePageView,
		Time:   now.UTC(),
		Source: "demo-traffic",
	}
	acct := demoAccounts[t.rng.IntN(len(demoAccounts))]
	hot := false
	if len(t.hot) > 0 && t.rng.IntN(3) == 0 {
		for a := range t.hot {
			acct, hot = a, true
			break
		}
	}
	ev.Customer = t.person(acct)
	page := func(path, title, content string) {
		ev.Type = schema.TypePageView
		ev.ContentID = content
		ev.Properties = map[string]any{"url": demoSite + path, "title": title}
	}
	r := t.rng.IntN(100)
	switch {
	case hot && r < 45:
		page("/pricing", "Pricing", "pricing-page")
	case hot && r < 65:
		p := integrationPages[t.rng.IntN(len(integrationPages))]
		page("/docs/integrations/"+p, "Integration: "+p, "")
	case hot && r < 75:
		page("/compare", "Dowser vs. the others", "compare-page")
	case r < 4:
		page("/pricing", "Pricing", "pricing-page")
	case r < 6:
		ev.Type = schema.TypeWebinarSignup
		ev.ContentID = "kafka-webinar"
		ev.Properties = map[string]any{"webinar_id": "kafka-2026-12", "title": "Real-time intent with Kafka"}
	case r < 7:
		ev.Type = schema.TypeWebinarAttended
		ev.ContentID = "kafka-webinar"
		ev.Properties = map[string]any{"webinar_id": "kafka-2026-12", "title": "Real-time intent with Kafka"}
	case r < 9:
		ev.Type = schema.TypeSupportEmail
		ev.Properties = map[string]any{"subject": supportSubjects[t.rng.IntN(len(supportSubjects))], "body": "(demo message body)"}
	case r < 10:
		ev.Type = schema.TypeFormSubmit
		ev.Properties = map[string]any{"form": "contact-sales", "url": demoSite + "/contact"}
	case r < 30:
		// Anonymous visitors: no account, no known customer.
		ev.Customer = schema.Customer{AnonymousID: fmt.Sprintf("ajs-%04d", t.rng.IntN(5000))}
		p := noisePages[t.rng.IntN(len(noisePages))]
		page(p.path, p.title, "")
	default:
		p := noisePages[t.rng.IntN(len(noisePages))]
		page(p.path, p.title, "")
	}
	return ev
}

// runTraffic produces rate synthetic events a second until ctx ends.
func runTraffic(ctx context.Context, brokers []string, topic string, rate float64, log *slog.Logger) error {
	if rate <= 0 {
		return nil
	}
	p := ingest.NewProducer(brokers, topic)
	defer p.Close()
	t := &traffic{rng: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 42)), hot: map[string]time.Time{}}
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	produced := 0
	for {
		select {
		case <-ctx.Done():
			log.Info("demo traffic stopped", "events", produced)
			return nil
		case now := <-tick.C:
			ev := t.next(now)
			b, err := json.Marshal(&ev)
			if err != nil {
				return fmt.Errorf("encoding demo event: %w", err)
			}
			if err := p.Produce(ctx, ingest.Message{Key: []byte(ingest.EventKey(&ev)), Value: b}); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				log.Warn("demo traffic", "err", err)
				continue
			}
			produced++
		}
	}
}
