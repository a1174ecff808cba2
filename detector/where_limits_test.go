package detector

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/dowserhq/dowser/schema"
)

// TestWhereBoundsMemory evaluates where expressions built to allocate far
// beyond their cost (issue 11: replace over a 30 KB property allocated 900
// MB per event) over an event near the size limit: each must stop, not
// match, be counted, and allocate a bounded amount.
func TestWhereBoundsMemory(t *testing.T) {
	const body = "event.properties.body"
	list := "[" + strings.Repeat(body+",", 60) + body + "]"
	cases := []string{
		body + `.replace('a', ` + body + ` + ` + body + ` + ` + body + `) == ""`,
		body + `.replace('', ` + body + `, 1000) == ""`,
		body + `.split('').join(` + body + `) == ""`,
		`'%s'.format([` + list + `]) == ""`,
		body + `.split('').map(c, ` + body + ` + ` + body + `).size() == 0`,
		body + `.split('').map(c, '%s%s%s%s%s%s%s%s'.format([` + strings.Repeat(body+",", 7) + body + `])).size() == 0`,
		body + `.split('').map(c, strings.quote(` + body + `)).size() == 0`,
		body + `.split('').map(c, ` + body + `.upperAscii()).size() == 0`,
		body + `.split('').map(c, ` + body + `.indexOf('b')).size() == 0`,
		body + `.split('').map(c, ` + body + `.split('')).size() == 0`,
		list + `.map(c, c + c + c + c).size() == 0`,
	}
	// Well under the gigabytes the expressions above allocated unchecked.
	const maxAlloc = 16 << 20
	for _, size := range []int{30 << 10, schema.MaxEventBytes - 200} {
		for i, where := range cases {
			t.Run(fmt.Sprintf("%dKB/%d", size>>10, i), func(t *testing.T) {
				s := mustParse(t, "id: w\nowner: o\nwhen:\n  threshold:\n    match:\n      where: '"+strings.ReplaceAll(where, "'", "''")+"'\n    count: 1\n    within: 1h\n")
				e := New([]*Signal{s})
				ev := at("e1", 0)
				ev.Properties = map[string]any{"body": strings.Repeat("a", size)}
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				alerts := e.Evaluate(ev)
				runtime.ReadMemStats(&after)
				if len(alerts) != 0 {
					t.Errorf("%.60s…: fired %d alerts", where, len(alerts))
				}
				if got := e.WhereStops(); got != 1 {
					t.Errorf("%.60s…: WhereStops() = %d, want 1", where, got)
				}
				n := after.TotalAlloc - before.TotalAlloc
				t.Logf("allocated %d KB", n>>10)
				if n > maxAlloc {
					t.Errorf("%.60s…: allocated %d MB, want at most %d", where, n>>20, maxAlloc>>20)
				}
			})
		}
	}
}

// TestWhereBuildsWithinLimits checks that the checked functions still
// answer as CEL's strings extension does within the size limit, and that a
// where that fails on the event's data is not counted as stopped.
func TestWhereBuildsWithinLimits(t *testing.T) {
	for _, where := range []string{
		`event.properties.body.replace('a', 'bc') == 'bcbcx'`,
		`event.properties.body.replace('a', 'bc', 1) == 'bcax'`,
		`event.properties.body.replace('', '-') == '-a-a-x-'`,
		`event.properties.body.split('').join('+') == 'a+a+x'`,
		`['a', 'b'].join() == 'ab'`,
		`'%s-%d'.format([event.properties.body, 3]) == 'aax-3'`,
		`event.properties.body + event.properties.body == 'aaxaax'`,
		`event.properties.body.indexOf('x') == 2 && event.properties.body.indexOf('a', 1) == 1`,
		`event.properties.body.lastIndexOf('a') == 1 && event.properties.body.lastIndexOf('a', 0) == 0`,
		`event.properties.body.matches('^a+x$') && matches(event.properties.body, 'ax')`,
	} {
		s := mustParse(t, "id: w\nowner: o\nwhen:\n  threshold:\n    match:\n      where: \""+strings.ReplaceAll(where, `"`, `\"`)+"\"\n    count: 1\n    within: 1h\n")
		e := New([]*Signal{s})
		ev := at("e1", 0)
		ev.Properties = map[string]any{"body": "aax"}
		if got := len(e.Evaluate(ev)); got != 1 {
			t.Errorf("%s: %d alerts, want 1", where, got)
		}
	}
	s := mustParse(t, "id: w\nowner: o\nwhen:\n  threshold:\n    match:\n      where: 'event.properties.missing == 1'\n    count: 1\n    within: 1h\n")
	e := New([]*Signal{s})
	e.Evaluate(at("e1", 0))
	if got := e.WhereStops(); got != 0 {
		t.Errorf("a missing property: WhereStops() = %d, want 0", got)
	}
}

// TestWhereChecksSearchCostFirst: matches and indexOf charge their cost
// (characters × pattern) after they ran; over a 64 KB property a 2 KB
// pattern took seconds. They now check it before.
func TestWhereChecksSearchCostFirst(t *testing.T) {
	const body = "event.properties.body"
	for _, where := range []string{
		body + `.matches("` + strings.Repeat("(a|b)", 390) + `c")`,
		body + `.matches("` + strings.Repeat("[ab]", 490) + `c")`,
		body + `.indexOf("` + strings.Repeat("ab", 990) + `c") > 0`,
		body + `.lastIndexOf("` + strings.Repeat("ab", 990) + `c", 60000) > 0`,
	} {
		s := mustParse(t, "id: w\nowner: o\nwhen:\n  threshold:\n    match:\n      where: '"+where+"'\n    count: 1\n    within: 1h\n")
		e := New([]*Signal{s})
		ev := at("e1", 0)
		ev.Properties = map[string]any{"body": strings.Repeat("ab", 32000)}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		alerts := e.Evaluate(ev)
		d := time.Since(start)
		runtime.ReadMemStats(&after)
		// Checked first, matches takes well under a millisecond (unchecked,
		// 1 to 2 s on a quiet machine), and indexOf allocates nothing
		// (unchecked, 260 KB of runes to search through).
		if d > 250*time.Millisecond {
			t.Errorf("%.50s…: took %v", where, d)
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > 64<<10 && !raceEnabled {
			t.Errorf("%.50s…: allocated %d KB", where, n>>10)
		}
		if len(alerts) != 0 || e.WhereStops() != 1 {
			t.Errorf("%.50s…: %d alerts, %d stops; want none and 1", where, len(alerts), e.WhereStops())
		}
	}
}

// TestWhereRegexMustBeLiteral: a pattern taken from the event would be
// compiled for every event, at the size the sender chooses.
func TestWhereRegexMustBeLiteral(t *testing.T) {
	_, err := ParseSignal([]byte("id: w\nowner: o\nwhen:\n  threshold:\n    match:\n      where: 'event.type.matches(event.properties.re)'\n    count: 1\n    within: 1h\n"))
	want := "when.threshold.match.where: the pattern of matches must be a string literal, not computed from the event (line 1, column 19)"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
	for _, ok := range []string{`event.type.matches("^page")`, `matches(event.type, "^page")`} {
		if _, err := compileWhere(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}
