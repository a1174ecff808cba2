package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/postgres"
	"github.com/dowserhq/dowser/postgres/pgtest"
)

// newsOf formats a verdict or an acknowledgement heard, for comparisons.
func newsOf(v dowser.VerdictGiven) string {
	if v.Acked {
		return fmt.Sprintf("%s %s acked verdict=%s from=%s", v.UserID, v.AlertID, v.Verdict, v.From)
	}
	value := "-"
	if v.Value != nil {
		value = fmt.Sprint(*v.Value)
	}
	return fmt.Sprintf("%s %s %s reason=%s value=%s from=%s", v.UserID, v.AlertID, v.Verdict, v.Reason, value, v.From)
}

// Every way of storing a verdict announces it, as stored, to a listener:
// the stream's (with the connection that gave it), REST's and a link's
// (which keeps the reason of the same verdict given before). An
// acknowledgement is announced the first time only, on the stream (with
// the connection) or by link; a refused verdict and one on another user's
// alert are not announced. When the listening connection is killed, ListenVerdicts
// says so.
func TestVerdictsAreAnnouncedToListeners(t *testing.T) {
	ctx := context.Background()
	s, url := openURL(t)
	for _, u := range []string{"ana", "ben"} {
		if err := s.People.PutUser(ctx, dowser.User{ID: u, Name: u, Role: dowser.RoleRep}, ""); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"al-1", "al-2"} {
		if _, err := s.Alerts.SaveAlert(ctx, alert(id), []string{"ana"}); err != nil {
			t.Fatal(err)
		}
	}
	heard := make(chan dowser.VerdictGiven, 10)
	listening := make(chan struct{})
	lctx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() {
		done <- s.Alerts.ListenVerdicts(lctx, func() { close(listening) }, func(v dowser.VerdictGiven) { heard <- v })
	}()
	<-listening
	next := func() string {
		t.Helper()
		select {
		case v := <-heard:
			return newsOf(v)
		case <-time.After(10 * time.Second):
			t.Fatal("no verdict heard in 10 s")
			return ""
		}
	}

	if err := s.Alerts.GiveVerdict(ctx, "ana", "al-1", dowser.Verdict{Verdict: dowser.VerdictNotUseful, Reason: "timing", Note: "call in May"}); err != nil {
		t.Fatal(err)
	}
	if got, want := next(), "ana al-1 not_useful reason=timing value=- from="; got != want {
		t.Errorf("REST verdict heard as %q, want %q", got, want)
	}
	if err := s.Alerts.Ack(ctx, "ana", "al-2", "hub/3"); err != nil {
		t.Fatal(err)
	}
	if got, want := next(), "ana al-2 acked verdict= from=hub/3"; got != want {
		t.Errorf("stream acknowledgement heard as %q, want %q", got, want)
	}
	// Neither an acknowledgement repeated (on the stream or by link), nor
	// one of an alert judged already, nor refused verdicts are news.
	if err := s.Alerts.Ack(ctx, "ana", "al-2", "hub/4"); err != nil {
		t.Fatal(err)
	}
	if err := s.Alerts.Ack(ctx, "ana", "al-1", "hub/4"); err != nil {
		t.Fatal(err)
	}
	if err := s.Alerts.Ack(ctx, "ben", "al-2", "hub/4"); !errors.Is(err, dowser.ErrNotFound) {
		t.Fatalf("ben's acknowledgement of ana's alert = %v, want ErrNotFound", err)
	}
	if err := s.Alerts.GiveVerdict(ctx, "ana", "al-2", dowser.Verdict{Verdict: dowser.VerdictUseful, Reason: "timing"}); !errors.Is(err, dowser.ErrReasonMisfit) {
		t.Fatalf("a useful verdict with a not-useful reason = %v, want ErrReasonMisfit", err)
	}
	if err := s.Alerts.Feedback(ctx, "ben", "al-1", dowser.VerdictUseful, "", "hub/1"); !errors.Is(err, dowser.ErrNotFound) {
		t.Fatalf("ben's verdict on ana's alert = %v, want ErrNotFound", err)
	}
	ack := dowser.Link{Action: dowser.LinkAck, AlertID: "al-2", UserID: "ana", Expires: time.Now().Add(time.Hour), Nonce: "nonce-ack"}
	if err := s.Alerts.UseLink(ctx, ack, time.Now()); err != nil {
		t.Fatal(err)
	}
	// A link's acknowledgement is news when it is the first.
	if _, err := s.Alerts.SaveAlert(ctx, alert("al-3"), []string{"ana"}); err != nil {
		t.Fatal(err)
	}
	ack3 := dowser.Link{Action: dowser.LinkAck, AlertID: "al-3", UserID: "ana", Expires: time.Now().Add(time.Hour), Nonce: "nonce-ack-3"}
	if err := s.Alerts.UseLink(ctx, ack3, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got, want := next(), "ana al-3 acked verdict= from="; got != want {
		t.Errorf("link acknowledgement heard as %q, want %q", got, want)
	}
	if err := s.Alerts.Ack(ctx, "ana", "al-3", ""); err != nil {
		t.Fatal(err)
	}
	nope := dowser.Link{Action: dowser.LinkAck, AlertID: "al-3", UserID: "ben", Expires: time.Now().Add(time.Hour), Nonce: "nonce-ack-ben"}
	if err := s.Alerts.UseLink(ctx, nope, time.Now()); !errors.Is(err, dowser.ErrNotFound) {
		t.Fatalf("a link acknowledging ana's alert for ben = %v, want ErrNotFound", err)
	}
	// The link repeats the verdict: the reason given before stays.
	again := dowser.Link{Action: dowser.LinkNotUseful, AlertID: "al-1", UserID: "ana", Expires: time.Now().Add(time.Hour), Nonce: "nonce-nu"}
	if err := s.Alerts.UseLink(ctx, again, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got, want := next(), "ana al-1 not_useful reason=timing value=- from="; got != want {
		t.Errorf("link verdict heard as %q, want %q", got, want)
	}
	if err := s.Alerts.GiveVerdict(ctx, "ana", "al-2", dowser.Verdict{Verdict: dowser.VerdictWon, Reason: "champion", Value: new(1200.5)}); err != nil {
		t.Fatal(err)
	}
	if got, want := next(), "ana al-2 won reason=champion value=1200.5 from="; got != want {
		t.Errorf("won verdict heard as %q, want %q", got, want)
	}
	if err := s.Alerts.Feedback(ctx, "ana", "al-2", dowser.VerdictWon, "", "hub/7"); err != nil {
		t.Fatal(err)
	}
	if got, want := next(), "ana al-2 won reason=champion value=1200.5 from=hub/7"; got != want {
		t.Errorf("stream verdict heard as %q, want %q", got, want)
	}

	if n := pgtest.Terminate(t, url, postgres.ListenApplicationName); n != 1 {
		t.Fatalf("terminated %d listening connections, want 1", n)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Error("ListenVerdicts returned nil when its connection was killed, want an error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ListenVerdicts did not return after its connection was killed")
	}
	if len(heard) != 0 {
		t.Errorf("heard %s as well", newsOf(<-heard))
	}
}
