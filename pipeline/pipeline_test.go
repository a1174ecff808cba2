package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/kafka"
	"github.com/dowserhq/dowser/notify"
	"github.com/dowserhq/dowser/schema"
)

// fakeStore is every store the pipeline reads and writes, in memory.
type fakeStore struct {
	fakeSignals
	dnt      map[string]map[string]bool
	saved    []string
	stored   []schema.Alert // as SaveAlert received them
	saveErr  error          // returned by the next SaveAlert
	profiles int            // AccountProfile calls
	fakeCheckpoints
}

func (s *fakeStore) SaveAlert(_ context.Context, a *schema.Alert, recipients []string) (dowser.SavedAlert, error) {
	if err := s.saveErr; err != nil {
		s.saveErr = nil
		return dowser.SavedAlert{}, err
	}
	s.saved = append(s.saved, a.ID)
	s.stored = append(s.stored, *a)
	ds := make([]schema.Delivery, len(recipients))
	for i, u := range recipients {
		ds[i] = schema.Delivery{UserID: u, Seq: int64(len(s.saved)), AlertID: a.ID}
	}
	return dowser.SavedAlert{AlertID: a.ID, Deliveries: ds, OutboxID: int64(len(s.saved))}, nil
}

func (s *fakeStore) AccountProfile(_ context.Context, id string) (string, string, error) {
	s.profiles++
	return "prospect", "Account " + id, nil
}

func (s *fakeStore) DoNotTrack(context.Context) (map[string]map[string]bool, error) {
	return s.dnt, nil
}

func (s *fakeStore) ErasuresAfter(context.Context, int64) ([]dowser.Erasure, error) {
	return nil, nil
}
func (s *fakeStore) ForgetAppliedErasures(context.Context) error                { return nil }
func (s *fakeStore) EraseAnonymousIDs(context.Context, []string) (int64, error) { return 0, nil }
func (s *fakeStore) RecordIdentityLink(context.Context, string, string) error   { return nil }
func (s *fakeStore) PurgeAlertsBefore(context.Context, time.Time, int) (int64, error) {
	return 0, nil
}

func (s *fakeStore) PurgeIdentityLinksBefore(context.Context, time.Time, int) (int64, error) {
	return 0, nil
}

// toOwner routes every alert to the signal's owner.
type toOwner struct{}

func (toOwner) Route(_ context.Context, a *schema.Alert) (notify.Route, error) {
	return notify.Route{Marketing: []string{a.SignalOwner}}, nil
}

type fakeHub struct{ got []schema.Delivery }

func (h *fakeHub) Deliver(ds ...schema.Delivery) { h.got = append(h.got, ds...) }

type fakeBroadcast struct{ published []string }

func (b *fakeBroadcast) Publish(saved dowser.SavedAlert) {
	b.published = append(b.published, saved.AlertID)
}
func (b *fakeBroadcast) Run(context.Context) error { return nil }

// TestHandleStoresDeliversAndPublishes follows events through a partition
// worker: a matching event's alert is stored, delivered here and handed to
// the alerts topic; a do-not-track customer's event is dropped unseen; a
// retry of an event whose alert failed to be stored stores it, without
// evaluating the event again (the engine would count it as a duplicate);
// an alert storage refuses for good (dowser.ErrPermanent) is dropped and
// its event dead-lettered.
func TestHandleStoresDeliversAndPublishes(t *testing.T) {
	ctx := context.Background()
	store := &fakeStore{
		fakeSignals: fakeSignals{rev: 1, signals: []dowser.StoredSignal{storedSignal("views", 0)}},
		dnt:         map[string]map[string]bool{dowser.DNTCustomer: {"c-hidden": true}},
	}
	hub, bc := &fakeHub{}, &fakeBroadcast{}
	p, err := New(Config{
		Group: "g", Topic: "events",
		Checkpoints: store, Alerts: store, Accounts: store, Privacy: store, Signals: store,
		Router: toOwner{}, Hub: hub, Broadcast: bc,
		SignalsPoll: time.Second, PrivacyKey: []byte("k-0123456789abcdef0123456789abcdef"),
		Logger: slog.New(slog.DiscardHandler), Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Load(ctx); err != nil {
		t.Fatal(err)
	}
	h, next, err := p.Partition(ctx, 0)
	if err != nil || next != -1 {
		t.Fatalf("Partition = %d, %v", next, err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	event := func(i int, customer string) *schema.Event {
		return &schema.Event{ID: fmt.Sprint("e", i), Type: schema.TypePageView, Time: at.Add(time.Duration(i) * time.Minute),
			Customer:   schema.Customer{ID: customer, AccountID: "acme"},
			Properties: map[string]any{"n": float64(1)}}
	}

	if err := h.Handle(ctx, event(1, "c-1")); err != nil {
		t.Fatal(err)
	}
	if len(store.saved) != 1 || len(hub.got) != 1 || hub.got[0].UserID != "o" || len(bc.published) != 1 || bc.published[0] != store.saved[0] {
		t.Fatalf("saved %v, delivered %+v, published %v; want one alert each way", store.saved, hub.got, bc.published)
	}
	if err := h.Handle(ctx, event(2, "c-hidden")); err != nil || len(store.saved) != 1 {
		t.Fatalf("a do-not-track customer's event: err %v, saved %v", err, store.saved)
	}
	down := errors.New("postgres down")
	store.saveErr = down
	ev := event(3, "c-3")
	if err := h.Handle(ctx, ev); !errors.Is(err, down) || errors.Is(err, kafka.ErrPermanent) {
		t.Fatalf("storage down: err = %v, want it returned as it is, to be retried", err)
	}
	if err := h.Handle(ctx, ev); err != nil || len(store.saved) != 2 {
		t.Fatalf("the retry: err %v, saved %v; want its alert stored", err, store.saved)
	}
	refused := fmt.Errorf("saving alert: %w", dowser.ErrPermanent)
	store.saveErr = refused
	if err := h.Handle(ctx, event(4, "c-4")); !errors.Is(err, refused) || !errors.Is(err, kafka.ErrPermanent) || len(store.saved) != 2 {
		t.Fatalf("storage refusing the data: err %v, saved %v; want the alert dropped and the event dead-lettered", err, store.saved)
	}
	if durable, err := h.Checkpoint(ctx, 5, true); err != nil || durable != 5 || store.cp.NextOffset != 5 || len(store.rows) == 0 {
		t.Errorf("checkpoint: err %v, durable %d, saved offset %d with %d state rows", err, durable, store.cp.NextOffset, len(store.rows))
	}
}

// TestAlertsNameTheirAccountAndRep: the event path fills in the account's
// name from the directory for message templates (.AccountName), and the
// alert it stores names the rep routing chose.
func TestAlertsNameTheirAccountAndRep(t *testing.T) {
	ctx := context.Background()
	doc := `{"id":"named","owner":"o","message":"{{.AccountName}} ({{.Account}}) read {{.Count}} pages","when":{"threshold":{"match":{"type":"page_view"},"count":1,"within":"1h"}}}`
	store := &fakeStore{fakeSignals: fakeSignals{rev: 1, signals: []dowser.StoredSignal{{ID: "named", Version: 1, Enabled: true, Document: []byte(doc)}}}}
	p, err := New(Config{
		Group: "g", Topic: "events",
		Checkpoints: store, Alerts: store, Accounts: store, Privacy: store, Signals: store,
		Router: toRep{}, Hub: &fakeHub{}, Broadcast: &fakeBroadcast{},
		SignalsPoll: time.Second, PrivacyKey: []byte("k-0123456789abcdef0123456789abcdef"),
		Logger: slog.New(slog.DiscardHandler), Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Load(ctx); err != nil {
		t.Fatal(err)
	}
	h, _, err := p.Partition(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	ev := &schema.Event{ID: "e1", Type: schema.TypePageView, Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Customer: schema.Customer{ID: "c-1", AccountID: "acme"}}
	if err := h.Handle(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if len(store.stored) != 1 {
		t.Fatalf("stored %d alerts, want 1", len(store.stored))
	}
	if a := store.stored[0]; a.Message != "Account acme (acme) read 1 pages" || a.Rep != "rep-ana" {
		t.Errorf("stored message %q for rep %q, want the account's name and rep-ana", a.Message, a.Rep)
	}

	// An event that carries its lifecycle is not looked up for its name
	// unless it fires: a query per event halved the consume rate.
	store.profiles = 0
	ev = &schema.Event{ID: "e2", Type: schema.TypeSupportEmail, Time: ev.Time,
		Customer: schema.Customer{ID: "c-2", AccountID: "globex", Lifecycle: "customer"}}
	if err := h.Handle(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if store.profiles != 0 || len(store.stored) != 1 {
		t.Fatalf("an event that fired nothing: %d lookups, %d alerts", store.profiles, len(store.stored))
	}
	ev = &schema.Event{ID: "e3", Type: schema.TypePageView, Time: ev.Time,
		Customer: schema.Customer{ID: "c-2", AccountID: "globex", Lifecycle: "customer"}}
	if err := h.Handle(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if len(store.stored) != 2 || store.stored[1].Message != "Account globex (globex) read 1 pages" || store.profiles != 1 {
		t.Errorf("an event with its lifecycle that fires: %d lookups, alerts %+v", store.profiles, store.stored)
	}
}

// toRep routes every alert to rep-ana.
type toRep struct{}

func (toRep) Route(context.Context, *schema.Alert) (notify.Route, error) {
	return notify.Route{Sales: "rep-ana", SalesBy: notify.ByAccount}, nil
}
