package notify

import (
	"context"
	"testing"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/schema"
)

// teamHistory is a memHistory that can also say who follows a rep, as
// the PostgreSQL store does, and records the connection each verdict
// came from.
type teamHistory struct {
	*memHistory
	from chan string
}

func (teamHistory) Followers(context.Context, string) ([]string, error) { return []string{"max"}, nil }

func (t teamHistory) Feedback(ctx context.Context, user, id, verdict, note, from string) error {
	t.from <- from
	return t.memHistory.Feedback(ctx, user, id, verdict, note, from)
}

// A verdict given on one panel reaches the giver's other panels and the
// panels of the managers who follow them, with its reason and value, and
// nobody else's; the panel that gave it hears only its answer.
func TestVerdictNewsReachesOtherPanelsAndFollowers(t *testing.T) {
	h := &memHistory{ds: map[string][]schema.Delivery{}}
	th := teamHistory{memHistory: h, from: make(chan string, 1)}
	hub, srv := newTestHubActing(t, HubConfig{}, h, th)
	giver, other, manager, stranger := dial(t, srv, "ana", nil), dial(t, srv, "ana", nil), dial(t, srv, "max", nil), dial(t, srv, "ben", nil)
	read(t, giver)
	read(t, other)
	read(t, manager)
	read(t, stranger)
	if err := giver.WriteJSON(map[string]any{"op": "feedback", "id": "al-1", "verdict": "won"}); err != nil {
		t.Fatal(err)
	}
	from := <-th.from
	if from == "" {
		t.Fatal("the verdict was stored without the name of the connection that gave it")
	}
	// As VerdictNews does once the store announces it, with the reason
	// and value stored.
	value := 1200.0
	hub.TellVerdict(t.Context(), dowser.VerdictGiven{AlertID: "al-1", UserID: "ana", Verdict: "won", Reason: "competitor", Value: &value, From: from})
	check := func(who string, f map[string]any) {
		t.Helper()
		if f["op"] != "verdict" || f["id"] != "al-1" || f["user"] != "ana" || f["verdict"] != "won" || f["reason"] != "competitor" || f["value"] != 1200.0 {
			t.Errorf("%s heard %v, want the verdict with reason competitor and value 1200", who, f)
		}
	}
	check("the other panel", read(t, other))
	check("the manager", read(t, manager))
	// The giver hears the answer to their frame, not the news.
	if f := read(t, giver); f["op"] != "feedback_saved" {
		t.Errorf("the giver heard %v, want feedback_saved", f)
	}
	if err := giver.WriteJSON(map[string]any{"op": "ack", "id": "al-1"}); err != nil {
		t.Fatal(err)
	}
	if f := read(t, giver); f["op"] != "acked" {
		t.Errorf("after feedback_saved the giver heard %v, want the answer to its next frame", f)
	}
	// The stranger hears nothing of it: the next frame it gets is its own.
	if err := stranger.WriteJSON(map[string]any{"op": "ack", "id": "al-1"}); err != nil {
		t.Fatal(err)
	}
	if f := read(t, stranger); f["op"] != "acked" {
		t.Errorf("a user who neither gave nor follows heard %v", f)
	}
}

// ackHistory is a teamHistory that records the connection each
// acknowledgement came from.
type ackHistory struct {
	teamHistory
	acks chan string
}

func (a ackHistory) Ack(ctx context.Context, user, id, from string) error {
	a.acks <- from
	return a.memHistory.Ack(ctx, user, id, from)
}

// An acknowledgement made on one panel reaches the user's other panels
// and the panels of the managers who follow them as "acknowledged", and
// nobody else's; the panel that made it hears only its answer.
func TestAckNewsReachesOtherPanelsAndFollowers(t *testing.T) {
	h := &memHistory{ds: map[string][]schema.Delivery{}}
	ah := ackHistory{teamHistory: teamHistory{memHistory: h}, acks: make(chan string, 2)}
	hub, srv := newTestHubActing(t, HubConfig{}, h, ah)
	acker, other, manager, stranger := dial(t, srv, "ana", nil), dial(t, srv, "ana", nil), dial(t, srv, "max", nil), dial(t, srv, "ben", nil)
	read(t, acker)
	read(t, other)
	read(t, manager)
	read(t, stranger)
	if err := acker.WriteJSON(map[string]any{"op": "ack", "id": "al-1"}); err != nil {
		t.Fatal(err)
	}
	from := <-ah.acks
	if from == "" {
		t.Fatal("the acknowledgement was stored without the name of the connection that made it")
	}
	// As VerdictNews does once the store announces it.
	hub.TellVerdict(t.Context(), dowser.VerdictGiven{AlertID: "al-1", UserID: "ana", Acked: true, From: from})
	check := func(who string, f map[string]any) {
		t.Helper()
		if len(f) != 3 || f["op"] != "acknowledged" || f["id"] != "al-1" || f["user"] != "ana" {
			t.Errorf("%s heard %v, want {op: acknowledged, id: al-1, user: ana}", who, f)
		}
	}
	check("the other panel", read(t, other))
	check("the manager", read(t, manager))
	if f := read(t, acker); f["op"] != "acked" {
		t.Errorf("the acker heard %v, want acked", f)
	}
	if err := acker.WriteJSON(map[string]any{"op": "seen", "id": "al-1"}); err != nil {
		t.Fatal(err)
	}
	if f := read(t, acker); f["op"] != "seen_ok" {
		t.Errorf("after acked the acker heard %v, want the answer to its next frame", f)
	}
	if err := stranger.WriteJSON(map[string]any{"op": "ack", "id": "al-1"}); err != nil {
		t.Fatal(err)
	}
	<-ah.acks
	if f := read(t, stranger); f["op"] != "acked" {
		t.Errorf("a user who neither made it nor follows heard %v", f)
	}
}
