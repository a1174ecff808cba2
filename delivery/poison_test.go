package delivery_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/delivery"
	"github.com/dowserhq/dowser/postgres"
	"github.com/dowserhq/dowser/postgres/pgtest"
)

// poisonFixture is a migrated store with users ana and ben (reps) and max
// (a manager following ana), and a direct connection for what the test
// arranges and reads behind the store's back.
func poisonFixture(t *testing.T) (*postgres.Store, *pgx.Conn) {
	t.Helper()
	ctx := context.Background()
	url := pgtest.URL(t)
	store, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for _, u := range []dowser.User{{ID: "ana", Role: dowser.RoleRep}, {ID: "ben", Role: dowser.RoleRep}, {ID: "max", Role: dowser.RoleManager}} {
		u.Name = u.ID
		if err := store.People.PutUser(ctx, u, ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.People.Subscribe(ctx, "max", "ana"); err != nil {
		t.Fatal(err)
	}
	if err := store.People.Subscribe(ctx, "max", "ben"); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return store, conn
}

func exec(t *testing.T, conn *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// TestDeliveryOfAnUnreadableChannelIsFailedAndOthersSent stores a crm
// channel whose templates no longer decode next to a working webhook: the
// dispatcher's round fails that delivery with the reason and sends the
// other, instead of failing every round on the claim.
func TestDeliveryOfAnUnreadableChannelIsFailedAndOthersSent(t *testing.T) {
	ctx := context.Background()
	store, conn := poisonFixture(t)
	var received atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { received.Add(1) }))
	t.Cleanup(srv.Close)
	hook, err := store.Channels.AddChannel(ctx, dowser.Channel{UserID: "ana", Kind: dowser.ChannelWebhook, Target: srv.URL, Enabled: true, Secret: "s3cret-s3cret-s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	crm, err := store.Channels.AddChannel(ctx, dowser.Channel{UserID: "ana", Kind: dowser.ChannelCRM, Target: srv.URL, Enabled: true,
		CRM: &dowser.CRMTemplate{Alert: dowser.CRMRequest{Method: "POST", Path: "/tasks", Body: `{}`}}})
	if err != nil {
		t.Fatal(err)
	}
	// Written by hand, or by a version that stored another shape.
	exec(t, conn, `UPDATE channels SET crm = '{"alert": {"method": 5}}' WHERE id = $1`, crm.ID)
	if _, err := store.Alerts.SaveAlert(ctx, digestAlert("al-1", "high", "Acme: pricing viewed"), []string{"ana"}); err != nil {
		t.Fatal(err)
	}
	d, err := delivery.New(delivery.Config{Store: store.Channels})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := d.Round(ctx); err != nil || n != 2 {
		t.Fatalf("round: %d claimed, err %v; want both deliveries claimed and no error", n, err)
	}
	if got := received.Load(); got != 1 {
		t.Errorf("webhook received %d requests, want 1", got)
	}
	if sent, err := store.Channels.ChannelDeliveries(ctx, "ana", hook.ID, dowser.DeliverySent, 10); err != nil || len(sent) != 1 {
		t.Errorf("webhook deliveries sent: %+v, %v; want 1", sent, err)
	}
	var status, reason string
	if err := conn.QueryRow(ctx, `SELECT status, last_error FROM channel_deliveries WHERE channel_id = $1`, crm.ID).Scan(&status, &reason); err != nil {
		t.Fatal(err)
	}
	if status != dowser.DeliveryFailed || !strings.Contains(reason, "cannot be read") {
		t.Errorf("crm delivery %s with %q; want failed, saying its templates cannot be read", status, reason)
	}
	// Its owner still lists every channel, the bad one saying why.
	list, err := store.Channels.ListChannels(ctx, "ana")
	if err != nil || len(list) != 2 {
		t.Fatalf("channels of ana: %+v, %v; want both", list, err)
	}
	if got := list[1]; got.ID != crm.ID || got.CRM != nil || !strings.Contains(got.Unreadable, "cannot be read") || list[0].Unreadable != "" {
		t.Errorf("channels listed %+v; want the crm one without templates, saying they cannot be read, and the webhook as it is", list)
	}
	if got, err := store.Channels.GetChannel(ctx, "ana", crm.ID); err != nil || got.Unreadable == "" {
		t.Errorf("crm channel read alone: %+v, %v; want it, saying its templates cannot be read", got, err)
	}
}

// TestDigestOfAnUnparsableTimeZonePausesItsChannel stores a digest
// channel whose time zone no longer parses next to a working one: the
// round pauses that channel with the reason and writes the other's digest,
// instead of failing every round.
func TestDigestOfAnUnparsableTimeZonePausesItsChannel(t *testing.T) {
	ctx := context.Background()
	store, conn := poisonFixture(t)
	add := func(user string) dowser.Channel {
		c, err := store.Channels.AddChannel(ctx, dowser.Channel{UserID: user, Kind: dowser.ChannelEmail, Target: user + "@example.com", Enabled: true,
			DigestTimes: []string{"09:00"}, TimeZone: "UTC"})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	good, bad := add("ana"), add("ben")
	// A zone the running binary's time zone database does not know (an
	// older image, a hand edit).
	exec(t, conn, `UPDATE channels SET time_zone = 'Mars/Olympus_Mons' WHERE id = $1`, bad.ID)
	for _, u := range []string{"ana", "ben"} {
		if _, err := store.Alerts.SaveAlert(ctx, digestAlert("al-"+u, "high", "Acme: pricing viewed"), []string{u}); err != nil {
			t.Fatal(err)
		}
	}
	clk := &clock{}
	clk.Set(time.Now().Add(25 * time.Hour)) // past a 09:00 of each zone
	g, err := delivery.NewDigester(delivery.DigestConfig{Store: store.Channels, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		n, err := g.Round(ctx)
		if err != nil {
			t.Fatalf("round %d: %v; want the bad channel set aside", i+1, err)
		}
		if want := 1 - i; n != want {
			t.Errorf("round %d wrote %d digests, want %d", i+1, n, want)
		}
	}
	if pending, err := store.Channels.ChannelDeliveries(ctx, "ana", good.ID, dowser.DeliveryPending, 10); err != nil || len(pending) != 1 || pending[0].DigestID == 0 {
		t.Errorf("ana's digest deliveries: %+v, %v; want one", pending, err)
	}
	got, err := store.Channels.GetChannel(ctx, "ben", bad.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.PausedAt == nil || !strings.Contains(got.PauseReason, "Mars/Olympus_Mons") {
		t.Errorf("ben's channel paused at %v for %q; want paused, naming its time zone", got.PausedAt, got.PauseReason)
	}
}

// escalationRound runs one round of e at now, failing t on a panic.
func escalationRound(t *testing.T, e *delivery.Escalator, clk *clock, now time.Time) (err error) {
	t.Helper()
	clk.Set(now)
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("round at %v panicked: %v", now, p)
		}
	}()
	_, err = e.Round(context.Background())
	return err
}

// stopReason is the stop reason of alertID's follow-up, "" while it runs.
func stopReason(t *testing.T, conn *pgx.Conn, alertID string) string {
	t.Helper()
	var reason string
	if err := conn.QueryRow(context.Background(), `SELECT stop_reason FROM alert_escalations WHERE alert_id = $1`, alertID).Scan(&reason); err != nil {
		t.Fatal(err)
	}
	return reason
}

// TestEscalationOfAnInconsistentAlertIsSetAside stores an alert whose
// document is not an object (a step cannot add itself to it) next to a
// sound one: its follow-up stops with the reason, the other escalates,
// and no round fails.
func TestEscalationOfAnInconsistentAlertIsSetAside(t *testing.T) {
	ctx := context.Background()
	store, conn := poisonFixture(t)
	for _, id := range []string{"al-bad", "al-good"} {
		a := digestAlert(id, "urgent", "Acme: buying now")
		a.Rep = "ana"
		if _, err := store.Alerts.SaveAlert(ctx, a, []string{"ana"}); err != nil {
			t.Fatal(err)
		}
	}
	exec(t, conn, `UPDATE alerts SET body = '"lost"' WHERE id = 'al-bad'`)
	clk := &clock{}
	e, err := delivery.NewEscalator(delivery.EscalatorConfig{Store: store.Escalations, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, at := range []time.Time{now, now.Add(16 * time.Minute), now.Add(18 * time.Minute)} {
		if err := escalationRound(t, e, clk, at); err != nil {
			t.Errorf("round at +%v: %v; want the bad alert set aside", at.Sub(now).Round(time.Minute), err)
		}
	}
	if steps, err := store.Escalations.EscalationSteps(ctx, "al-good"); err != nil || len(steps) != 1 || steps[0].To[0] != "max" {
		t.Errorf("al-good's steps: %+v, %v; want one, to max", steps, err)
	}
	if r := stopReason(t, conn, "al-bad"); !strings.Contains(r, "set aside") || !strings.Contains(r, "SQLSTATE") {
		t.Errorf("al-bad's follow-up stopped for %q; want set aside with the error", r)
	}
}

// TestEscalationOfARepWithAnUnreadableCalendarIsSetAside stores a rep's
// calendar with a work day no weekday has: the follow-up of that rep's
// alert stops with the reason, another rep's alert escalates, and the
// round neither fails nor panics.
func TestEscalationOfARepWithAnUnreadableCalendarIsSetAside(t *testing.T) {
	ctx := context.Background()
	store, conn := poisonFixture(t)
	for _, rep := range []string{"ana", "ben"} {
		a := digestAlert("al-"+rep, "urgent", "Acme: buying now")
		a.Rep = rep
		if _, err := store.Alerts.SaveAlert(ctx, a, []string{rep}); err != nil {
			t.Fatal(err)
		}
	}
	exec(t, conn, `INSERT INTO user_calendars (user_id, work_days) VALUES ('ben', '{1,-1}')`)
	clk := &clock{}
	e, err := delivery.NewEscalator(delivery.EscalatorConfig{Store: store.Escalations, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, at := range []time.Time{now, now.Add(16 * time.Minute)} {
		if err := escalationRound(t, e, clk, at); err != nil {
			t.Errorf("round at +%v: %v; want ben's alert set aside", at.Sub(now).Round(time.Minute), err)
		}
	}
	if steps, err := store.Escalations.EscalationSteps(ctx, "al-ana"); err != nil || len(steps) != 1 {
		t.Errorf("al-ana's steps: %+v, %v; want one", steps, err)
	}
	if r := stopReason(t, conn, "al-ben"); !strings.Contains(r, "set aside") || !strings.Contains(r, "work day -1") {
		t.Errorf("al-ben's follow-up stopped for %q; want set aside, naming the bad work day", r)
	}
}
