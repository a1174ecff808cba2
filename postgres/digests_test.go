package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/dowserhq/dowser"
)

// TestDigestsCoverOnlyWhatCameWhileOn: turning digests on later covers
// alerts from then on; a time that passes while the channel is disabled
// writes no digest and its alerts are not sent later; a time is handled
// once.
func TestDigestsCoverOnlyWhatCameWhileOn(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	if err := s.People.PutUser(ctx, dowser.User{ID: "ana", Name: "Ana", Role: dowser.RoleRep}, ""); err != nil {
		t.Fatal(err)
	}
	c, err := s.Channels.AddChannel(ctx, dowser.Channel{UserID: "ana", Kind: dowser.ChannelEmail, Target: "ana@example.com", Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	save := func(id string) {
		t.Helper()
		if _, err := s.Alerts.SaveAlert(ctx, alert(id), []string{"ana"}); err != nil {
			t.Fatal(err)
		}
	}
	digest := func(slot time.Time) int {
		t.Helper()
		n, err := s.Channels.CreateDigest(ctx, c.ID, slot)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	save("al-before")
	c.DigestTimes, c.TimeZone = []string{"09:00"}, "UTC"
	if c, err = s.Channels.UpdateChannel(ctx, c, false); err != nil || len(c.DigestTimes) != 1 || c.TimeZone != "UTC" {
		t.Fatalf("UpdateChannel = %+v, %v; want digest times and zone stored", c, err)
	}
	sched, err := s.Channels.DigestSchedules(ctx)
	if err != nil || len(sched) != 1 || sched[0].ChannelID != c.ID || sched[0].TimeZone != "UTC" {
		t.Fatalf("DigestSchedules = %+v, %v; want the channel's", sched, err)
	}
	// A time before the digests were turned on is not one of theirs.
	if n := digest(sched[0].Last.Add(-time.Minute)); n != 0 {
		t.Errorf("a time before the change wrote a digest of %d alerts", n)
	}
	save("al-1")
	t1 := time.Now().Add(time.Hour)
	if n := digest(t1); n != 1 {
		t.Errorf("first digest covers %d alerts, want 1 (al-1; al-before came before digests were on)", n)
	}
	if n := digest(t1); n != 0 {
		t.Errorf("the same time again wrote a digest of %d alerts", n)
	}
	c.Enabled = false
	if c, err = s.Channels.UpdateChannel(ctx, c, false); err != nil {
		t.Fatal(err)
	}
	save("al-off")
	if n := digest(t1.Add(24 * time.Hour)); n != 0 {
		t.Errorf("a disabled channel's time wrote a digest of %d alerts", n)
	}
	c.Enabled = true
	if c, err = s.Channels.UpdateChannel(ctx, c, false); err != nil {
		t.Fatal(err)
	}
	save("al-2")
	if n := digest(t1.Add(48 * time.Hour)); n != 1 {
		t.Errorf("after re-enabling, digest covers %d alerts, want 1 (al-2, not al-off)", n)
	}
	ds, err := s.Channels.ChannelDeliveries(ctx, "ana", c.ID, "", 10)
	if err != nil || len(ds) != 2 || ds[0].DigestID == 0 || ds[0].AlertID != "" {
		t.Errorf("deliveries %+v, %v; want two digest deliveries", ds, err)
	}
}
