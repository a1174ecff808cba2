package demo

import (
	"fmt"
	"slices"
	"time"

	"github.com/dowserhq/dowser/schema"
)

// The accounts whose back-dated history [History] writes: two customers.
const (
	// SilentAccount reported an outage eight days ago and has not used
	// the product since: outage-then-silence.
	SilentAccount = "initech"
	// SurgingAccount used the app twice a week for a month and five times
	// in the last minutes: usage-surge.
	SurgingAccount = "stark"
)

// History is a back-dated history to produce before the traffic starts at
// now, so that the pack's silence and change signals fire within the
// demo's first minute rather than after days of event time:
//
//   - SilentAccount logs in every few days for three weeks, then writes
//     about an outage eight days before now, and nothing more: its
//     seven-day wait ends a day before now, so outage-then-silence fires
//     once the partition's time passes it (with the first traffic, or by
//     the wall clock when the partition is quiet);
//   - SurgingAccount views the app twice in each of the four weeks (Monday
//     to Sunday, UTC) before now's, and five times in the minutes before
//     now: twice its weekly average, and five times, so usage-surge fires
//     on the fifth.
//
// The events are in time order; their ids name now (in seconds), so that
// a demo started again writes a history of its own.
func History(now time.Time) []schema.Event {
	now = now.UTC()
	var out []schema.Event
	add := func(ev schema.Event, at time.Time) {
		ev.Time, ev.Source = at, "demo-history"
		out = append(out, ev)
	}
	silent, surging := accountIndex[SilentAccount], accountIndex[SurgingAccount]

	// Usage weeks are Monday to Sunday, UTC: the change signals' periods.
	week := periodStart(now, 7*day)
	for w := 4; w >= 1; w-- {
		start := week.Add(-time.Duration(w) * 7 * day)
		if w == 3 {
			for i, ago := range []time.Duration{22 * day, 19 * day, 15 * day, 12 * day, 9 * day} {
				add(login(personOf(silent, 1+i%peopleCount(silent))), now.Add(-ago))
			}
			add(supportEmail(personOf(silent, 1), outageSubjects[0]), now.Add(-8*day))
		}
		for i, off := range []time.Duration{day + 10*time.Hour, 3*day + 15*time.Hour} {
			add(appView(personOf(surging, 1+i%peopleCount(surging)), "/app/alerts"), start.Add(off))
		}
	}
	// This week's five, in the minutes before now (or since Monday 00:00,
	// when the week is younger).
	gap := min(2*time.Minute, now.Sub(week)/6)
	for i := 5; i >= 1; i-- {
		add(appView(personOf(surging, 1+i%peopleCount(surging)), "/app/signals"), now.Add(-time.Duration(i)*gap))
	}
	slices.SortStableFunc(out, func(a, b schema.Event) int { return a.Time.Compare(b.Time) })
	for i := range out {
		out[i].ID = fmt.Sprintf("hist-%d-%02d", now.Unix(), i)
	}
	return out
}

// periodStart is the start of the period of length p that holds t,
// periods starting on Monday 1970-01-05 00:00 UTC as the detector's do.
func periodStart(t time.Time, p time.Duration) time.Time {
	origin := time.Date(1970, 1, 5, 0, 0, 0, 0, time.UTC)
	return origin.Add(t.Sub(origin) / p * p)
}

func login(c schema.Customer) schema.Event {
	return schema.Event{Type: "login", Customer: c, Properties: map[string]any{"url": Site + "/app/login"}}
}

func appView(c schema.Customer, path string) schema.Event {
	return PageView(c, path, "Dowser app")
}
