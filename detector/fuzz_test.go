package detector

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/dowserhq/dowser/schema"
)

// The input of FuzzEngine: a header choosing the signals' durations and
// limits, the clock's window and where a restart happens, then events.
//
//	header: within, cooldown, half-life, count/level, cut, clock (6 bytes)
//	event:  kind, who, then its time (see fuzzEvents below)
//
// kind: bits 0-1 type, 2-3 url, 4-5 id, 6-7 time mode. who: bits 0-1
// customer id, 2-3 anonymous id, 4-5 account id, 6-7 lifecycle. Time modes:
// 0, 8 bytes of Unix nanoseconds (any int64, so the whole range); 1, a
// step of an int8 in a unit of the next byte; 2, the previous event's time;
// 3, a step back of a uint8 in minutes.
var (
	fuzzWithins   = []Duration{1, Duration(time.Second), Duration(time.Minute), Duration(time.Hour), Duration(day), Duration(7 * day), Duration(90 * day), MaxWithin}
	fuzzCooldowns = []Duration{0, 1, Duration(time.Minute), Duration(time.Hour), Duration(day), MaxWithin, -1, -1} // -1: the default
	fuzzHalfLives = []Duration{1, Duration(time.Second), Duration(time.Minute), Duration(time.Hour), Duration(day), MaxHalfLife}
	fuzzLevels    = []float64{1, 5, 10, 1e9}
	fuzzClocks    = []int{1, 2, 3, clockWindow}
	fuzzTypes     = []string{schema.TypePageView, "webinar_signup", "support_email", "identify"}
	fuzzURLs      = []string{"https://example.com/pricing", "https://example.com/blog", "https://example.com/pricing/x", ""}
	fuzzUnits     = []time.Duration{1, time.Second, time.Minute, time.Hour, day, 90 * day, 400 * day, math.MaxInt64 / 128}
)

// fuzzCase is what an input decodes to.
type fuzzCase struct {
	signals []*Signal
	events  []*schema.Event
	cut     int // events[:cut] before the restart
	clock   int // the clock's window
}

// fuzzInput reads a case. Missing bytes read as zeros. Parsed signals are
// kept in parsed by their document (compiling CEL costs more than a run).
func fuzzInput(t *testing.T, data []byte, parsed map[string]*Signal) fuzzCase {
	next := func() byte {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return b
	}
	within := fuzzWithins[next()%byte(len(fuzzWithins))]
	cooldown := fuzzCooldowns[next()%byte(len(fuzzCooldowns))]
	halfLife := fuzzHalfLives[next()%byte(len(fuzzHalfLives))]
	cl := next()
	cut := int(next())
	c := fuzzCase{clock: fuzzClocks[next()%byte(len(fuzzClocks))]}

	cool := ""
	if cooldown >= 0 {
		cool = "cooldown: " + cooldown.String() + "\n"
	}
	distinct := ""
	if cl&0x10 != 0 {
		distinct = ", distinct: properties.url"
	}
	msg := `message: "{{.Count}} {{.People}} {{.Score}} {{.Customer}} {{.Account}}"` + "\n"
	docs := []string{
		fmt.Sprintf("id: views\nowner: o\n%s%swhen: {threshold: {match: {type: page_view}, count: %d, within: %s%s}}\n",
			cool, msg, 1+cl%4, within, distinct),
		fmt.Sprintf("id: people\nowner: o\nscope: account\nmin_people: 2\n%s%swhen: {threshold: {match: {type: page_view}, count: 2, within: %s}}\n",
			cool, msg, within),
		fmt.Sprintf("id: seq\nowner: o\n%s%swhen:\n  sequence:\n    steps: [{type: webinar_signup}, {type: page_view, url: '*/pricing*'}]\n    absent: {type: support_email}\n    within: %s\n",
			cool, msg, within),
		fmt.Sprintf("id: heat\nowner: o\nscope: account\n%s%swhen:\n  score:\n    rules:\n      - {match: {type: page_view, url: '*/pricing*'}, points: 4}\n      - {match: {type: webinar_signup}, points: 3}\n      - {match: {type: page_view}, points: 1}\n    half_life: %s\n    level: %v\n",
			cool, msg, halfLife, fuzzLevels[(cl>>2)%4]),
		"id: when\nowner: o\ncooldown: 0s\nwhen: {threshold: {match: {where: 'event.time.getFullYear() < 1900 || event.time.getFullYear() >= 2262'}, count: 1, within: 1h}}\n",
	}
	for _, doc := range docs {
		s := parsed[doc]
		if s == nil {
			s = mustParse(t, doc)
			parsed[doc] = s
		}
		c.signals = append(c.signals, s)
	}

	prev := int64(0)
	for n := 0; len(data) > 0 && n < 200; n++ {
		kind, who := next(), next()
		ev := &schema.Event{
			Type: fuzzTypes[kind&3],
			Customer: schema.Customer{
				ID:          [...]string{"", "c-1", "c-2", "c-3"}[who&3],
				AnonymousID: [...]string{"", "a-1", "a-2", "c-1"}[who>>2&3],
				AccountID:   [...]string{"", "acme", "initech", ""}[who>>4&3],
				Lifecycle:   [...]string{"", schema.LifecycleCustomer, schema.LifecycleProspect, ""}[who>>6],
			},
		}
		if u := fuzzURLs[kind>>2&3]; u != "" {
			ev.Properties = map[string]any{"url": u}
		}
		switch kind >> 4 & 3 {
		case 0, 1:
			ev.ID = fmt.Sprint("e", n)
		case 2:
			ev.ID = fmt.Sprint("e", int(next())%(n+1)) // perhaps a duplicate
		}
		switch kind >> 6 {
		case 0:
			var b [8]byte
			for i := range b {
				b[i] = next()
			}
			prev = int64(binary.BigEndian.Uint64(b[:]))
		case 1:
			unit := fuzzUnits[next()%byte(len(fuzzUnits))]
			prev = step(prev, int64(int8(next())), int64(unit))
		case 3:
			prev = step(prev, -int64(next()), int64(time.Minute))
		}
		ev.Time = time.Unix(0, prev)
		c.events = append(c.events, ev)
	}
	c.cut = cut % (len(c.events) + 1)
	return c
}

// step returns t + n·unit, saturating at the ends of the int64 range;
// |n| ≤ 255 and unit ≤ MaxInt64/128.
func step(t, n, unit int64) int64 {
	if n > 127 || n < -127 { // n·unit could wrap
		return step(step(t, n/2, unit), n-n/2, unit)
	}
	d := n * unit
	switch s := t + d; {
	case d > 0 && s < t:
		return math.MaxInt64
	case d < 0 && s > t:
		return math.MinInt64
	default:
		return s
	}
}

// fuzzEngine returns an engine of c's signals and clock window.
func fuzzEngine(c fuzzCase) *Engine {
	e := New(c.signals)
	e.clock = clock{size: c.clock}
	return e
}

// alertText is everything an alert says, times as Unix nanoseconds (a
// restored time may carry another *Location for the same instant).
func alertText(a schema.Alert) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s v%d %s %s %s %s %s %q %d %s %d [", a.ID, a.SignalID, a.SignalVersion, a.SignalName, a.Subject,
		a.CustomerID, a.AccountID, a.Lifecycle, a.Message, a.Count, a.EventID, a.Time.UnixNano())
	for _, e := range a.Evidence {
		fmt.Fprintf(&b, " %s/%s/%d/%s/%s", e.EventID, e.Type, e.Time.UnixNano(), e.CustomerID, e.URL)
	}
	b.WriteString(" ]")
	return b.String()
}

// FuzzEngine drives the engine with random signals' durations, event
// times across the whole int64 range, ids (duplicates included), types,
// identities and properties. Beyond not panicking, alerts must say what
// fired them, be the same from an engine with other hash seeds, and be the
// same after a restart from a snapshot taken at any point.
func FuzzEngine(f *testing.F) {
	type event struct {
		kind, who byte
		at        int64
	}
	encode := func(header [6]byte, events ...event) []byte {
		b := header[:]
		for _, e := range events {
			b = append(b, e.kind&^0xc0, e.who)
			b = binary.BigEndian.AppendUint64(b, uint64(e.at))
		}
		return b
	}
	const pv, signup, support = 0, 1, 2
	const pricing, blog = 0 << 2, 1 << 2
	first, last := int64(math.MinInt64), int64(math.MaxInt64)
	// The crash of issue 11: two events at the earliest time, two at the
	// latest.
	f.Add(encode([6]byte{3, 0, 3, 1, 2, 3}, event{pv, 1, first}, event{pv, 1, first}, event{pv, 1, last}, event{pv, 1, last}))
	f.Add(encode([6]byte{7, 5, 5, 1, 2, 0}, event{pv, 1, first}, event{pv, 1, first}, event{pv, 1, last}, event{pv, 1, last}))
	f.Add(encode([6]byte{7, 6, 5, 1, 1, 0},
		event{signup | pricing, 1, first}, event{pv | pricing, 1, first}, event{support, 1, first + 1}, event{pv | pricing, 1, first + 2},
		event{signup, 0x11, last - 1}, event{pv | pricing, 0x12, last}, event{pv | pricing, 0x11, last}))
	// A far-future event amid a stream of the present.
	var stream []event
	t0 := time.Date(2026, 11, 23, 7, 0, 0, 0, time.UTC).UnixNano()
	for i := range 60 {
		e := event{byte(i % 3), byte(0x10 | (i%3 + 1)), t0 + int64(i)*int64(time.Minute)}
		if i%5 == 0 {
			e.kind |= blog
		}
		if i == 40 {
			stream = append(stream, event{pv, 1, last}, event{signup, 0x12, last - int64(time.Hour)})
		}
		stream = append(stream, e)
	}
	f.Add(encode([6]byte{3, 3, 3, 2, 42, 3}, stream...))
	f.Add(encode([6]byte{3, 7, 3, 5, 20, 1}, stream...))

	parsed := make(map[string]*Signal)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkEngine(t, fuzzInput(t, data, parsed))
	})
}

// checkEngine runs c's events through engines and checks what FuzzEngine
// says.
func checkEngine(t *testing.T, c fuzzCase) {
	a, seeds := fuzzEngine(c), fuzzEngine(c)
	before := fuzzEngine(c)
	var after *Engine
	fired := 0
	defer func() { t.Logf("%d events, restart after %d, %d alerts", len(c.events), c.cut, fired) }()
	for i, ev := range c.events {
		if i == c.cut {
			snap, err := before.Snapshot()
			if err != nil {
				t.Fatalf("snapshot after %d events: %v", i, err)
			}
			after = fuzzEngine(c)
			if err := after.RestoreSnapshot(snap); err != nil {
				t.Fatalf("restoring after %d events: %v", i, err)
			}
		}
		got := a.Evaluate(ev)
		fired += len(got)
		for _, al := range got {
			if al.EventID != ev.ID || !al.Time.Equal(ev.Time) || al.Count < 1 || len(al.Evidence) > MaxEvidence {
				t.Fatalf("event %d (%s at %d): alert %s", i, ev.ID, ev.Time.UnixNano(), alertText(al))
			}
			if id := schema.AlertID(al.SignalID, al.SignalVersion, al.Subject, ev.ID); al.ID != id {
				t.Fatalf("event %d: alert id %s, want %s", i, al.ID, id)
			}
			for _, x := range al.Evidence {
				if x.Time.After(ev.Time) {
					t.Fatalf("event %d: evidence after the event: %s", i, alertText(al))
				}
			}
		}
		want := texts(got)
		if other := texts(seeds.Evaluate(ev)); other != want {
			t.Fatalf("event %d (%s at %d): alerts depend on the hash seed:\n%s\n%s", i, ev.ID, ev.Time.UnixNano(), want, other)
		}
		if i < c.cut {
			before.Evaluate(ev)
		} else if other := texts(after.Evaluate(ev)); other != want {
			t.Fatalf("event %d (%s at %d), restored after %d: got\n%s\nwant\n%s", i, ev.ID, ev.Time.UnixNano(), c.cut, other, want)
		}
	}
}

func texts(alerts []schema.Alert) string {
	var b strings.Builder
	for _, a := range alerts {
		b.WriteString(alertText(a))
		b.WriteByte('\n')
	}
	return b.String()
}
