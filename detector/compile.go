package detector

import (
	"fmt"
	"strings"
	"text/template"
	"time"

	"github.com/dowserhq/dowser/schema"
)

// plan is a signal compiled for evaluation: its matchers, limits and
// message template. A plan is immutable once built, so engines share it.
type plan struct {
	sig  *Signal // normalized, cooldown included; never modified
	hash string
	kind kind

	// threshold
	match     matcher
	count     int
	distinct  field
	minPeople int
	// sequence
	steps  []matcher
	absent *matcher
	// silence: match is its after, expect its expect
	expect []matcher
	// change: match, within its period, and these
	baseline   int
	rise, fall float64
	// score
	rules    []scoreRule
	halfLife time.Duration
	level    float64

	// within is the threshold's or sequence's window, the silence's wait;
	// 0 for a score.
	within   time.Duration
	cooldown time.Duration
	// horizon is how far behind its subject's newest kept event a matching
	// event is still kept (see Engine).
	horizon time.Duration
	tmpl    *template.Template
	// namesAccount is set when the message may use .AccountName: its
	// alerts are rendered again once the event path knows the name.
	namesAccount bool
}

type kind uint8

const (
	kindThreshold kind = iota
	kindSequence
	kindScore
	kindSilence
	kindChange
)

type scoreRule struct {
	m      matcher
	points float64
}

// field names the event field a threshold's distinct counts.
type field struct {
	kind fieldKind
	prop string // the property name, for fieldProperty
}

type fieldKind uint8

const (
	fieldNone fieldKind = iota
	fieldType
	fieldSource
	fieldContentID
	fieldCustomerID
	fieldAccountID
	fieldProperty
)

var fieldNames = map[string]fieldKind{
	"type":                fieldType,
	"source":              fieldSource,
	"content_id":          fieldContentID,
	"customer.id":         fieldCustomerID,
	"customer.account_id": fieldAccountID,
}

// parseField reads a distinct field path.
func parseField(s string) (field, bool) {
	if k, ok := fieldNames[s]; ok {
		return field{kind: k}, true
	}
	if name, ok := strings.CutPrefix(s, "properties."); ok && name != "" {
		return field{kind: fieldProperty, prop: name}, true
	}
	return field{}, false
}

// compile checks every rule on a normalized signal and, when it has no
// problem, returns its evaluation plan. Problems are added to p.
func compile(s *Signal, p *problems) *plan {
	before := p.found
	switch {
	case s.ID == "":
		p.add("id", "is required")
	case !idPattern.MatchString(s.ID):
		p.addf("id", "%q is not a valid id: lowercase letters, digits, '_', '.' and '-', starting with a letter or digit, at most 64 characters", s.ID)
	}
	if strings.TrimSpace(s.Owner) == "" {
		p.add("owner", "is required")
	}
	oneOf(p, "audience", s.Audience, AudienceProspect, AudienceCustomer, AudienceAny)
	oneOf(p, "scope", s.Scope, ScopeCustomer, ScopeAccount)
	oneOf(p, "priority", s.Priority, schema.PriorityLow, schema.PriorityMedium, schema.PriorityHigh, schema.PriorityUrgent)

	pl := &plan{sig: s, cooldown: time.Duration(s.Cooldown)}
	w := s.When
	given := 0
	for _, set := range []bool{w.Threshold != nil, w.Sequence != nil, w.Score != nil, w.Silence != nil, w.Change != nil} {
		if set {
			given++
		}
	}
	switch {
	case given != 1:
		p.add("when", "exactly one of threshold, sequence, score, silence, change is required")
	case w.Threshold != nil:
		const tp = "when.threshold"
		t := w.Threshold
		pl.kind = kindThreshold
		pl.match = compileMatch(&t.Match, tp+".match", 0, p)
		pl.count = t.Count
		if t.Count < 1 || t.Count > MaxCount {
			p.addf(tp+".count", "must be between 1 and %d, got %d", MaxCount, t.Count)
		}
		pl.within = window(p, tp+".within", t.Within, MaxWithin)
		if t.Distinct != "" {
			f, ok := parseField(t.Distinct)
			if !ok {
				p.addf(tp+".distinct", "%q is not one of type, source, content_id, customer.id, customer.account_id, properties.<name>", t.Distinct)
			}
			pl.distinct = f
		}
		pl.horizon = 2 * pl.within
	case w.Sequence != nil:
		const sp = "when.sequence"
		q := w.Sequence
		pl.kind = kindSequence
		if len(q.Steps) < 2 || len(q.Steps) > MaxSteps {
			p.addf(sp+".steps", "must have between 2 and %d steps, got %d", MaxSteps, len(q.Steps))
		}
		pl.steps = make([]matcher, len(q.Steps))
		for i := range q.Steps {
			pl.steps[i] = compileMatch(&q.Steps[i], fmt.Sprintf("%s.steps[%d]", sp, i), 0, p)
		}
		if q.Absent != nil {
			a := compileMatch(q.Absent, sp+".absent", 0, p)
			pl.absent = &a
		}
		pl.within = window(p, sp+".within", q.Within, MaxWithin)
		pl.count = len(q.Steps)
		pl.horizon = 2 * pl.within
	case w.Silence != nil:
		const qp = "when.silence"
		q := w.Silence
		pl.kind = kindSilence
		pl.match = compileMatch(&q.After, qp+".after", 0, p)
		if len(q.Expect) < 1 || len(q.Expect) > MaxExpect {
			p.addf(qp+".expect", "must have between 1 and %d matches, got %d", MaxExpect, len(q.Expect))
		}
		pl.expect = make([]matcher, len(q.Expect))
		for i := range q.Expect {
			pl.expect[i] = compileMatch(&q.Expect[i], fmt.Sprintf("%s.expect[%d]", qp, i), 0, p)
		}
		pl.within = window(p, qp+".within", q.Within, MaxWithin)
		pl.count = 1
		pl.horizon = 2 * pl.within
	case w.Change != nil:
		const cp = "when.change"
		c := w.Change
		pl.kind = kindChange
		pl.match = compileMatch(&c.Match, cp+".match", 0, p)
		pl.within = window(p, cp+".period", c.Period, MaxWithin)
		pl.baseline = c.Baseline
		if c.Baseline < 1 || c.Baseline > MaxBaseline {
			p.addf(cp+".baseline", "must be between 1 and %d, got %d", MaxBaseline, c.Baseline)
		}
		pl.rise, pl.fall = c.Rise, c.Fall
		switch {
		case (c.Rise == 0) == (c.Fall == 0):
			if !p.has(cp+".rise") && !p.has(cp+".fall") {
				p.add(cp, "exactly one of rise, fall is required")
			}
		case c.Rise != 0 && !(c.Rise > 1 && c.Rise <= MaxRise):
			p.addf(cp+".rise", "must be more than 1 and at most %d, got %s", MaxRise, number(c.Rise))
		case c.Fall != 0 && !(c.Fall > 0 && c.Fall < 1):
			p.addf(cp+".fall", "must be more than 0 and less than 1, got %s", number(c.Fall))
		}
		pl.count = c.MinCount
		if c.MinCount < 1 || c.MinCount > MaxCount {
			p.addf(cp+".min_count", "must be between 1 and %d, got %d", MaxCount, c.MinCount)
		}
		// The current period and the baseline, from the start of the
		// oldest: one period more than they span.
		pl.horizon = time.Duration(c.Baseline+2) * pl.within
	case w.Score != nil:
		const cp = "when.score"
		sc := w.Score
		pl.kind = kindScore
		if len(sc.Rules) < 1 || len(sc.Rules) > MaxRules {
			p.addf(cp+".rules", "must have between 1 and %d rules, got %d", MaxRules, len(sc.Rules))
		}
		pl.rules = make([]scoreRule, len(sc.Rules))
		for i := range sc.Rules {
			rp := fmt.Sprintf("%s.rules[%d]", cp, i)
			r := &sc.Rules[i]
			pl.rules[i] = scoreRule{m: compileMatch(&r.Match, rp+".match", 0, p), points: r.Points}
			if !(r.Points > 0 && r.Points <= MaxPoints) {
				p.addf(rp+".points", "must be more than 0 and at most %d, got %s", MaxPoints, number(r.Points))
			}
		}
		pl.halfLife = window(p, cp+".half_life", sc.HalfLife, MaxHalfLife)
		pl.level = sc.Level
		if !(sc.Level > 0 && sc.Level <= MaxLevel) {
			p.addf(cp+".level", "must be more than 0 and at most %s, got %s", number(MaxLevel), number(sc.Level))
		}
		pl.horizon = 2 * pl.halfLife
	}
	switch {
	case s.MinPeople == 0:
	case s.MinPeople < 0 || s.MinPeople > MaxCount:
		p.addf("min_people", "must be between 1 and %d, got %d", MaxCount, s.MinPeople)
	case s.Scope != ScopeAccount:
		p.add("min_people", "requires scope: account")
	case w.Silence != nil:
		p.add("min_people", "is not allowed with when.silence: its alert is about one event")
	case w.Change != nil:
		p.add("min_people", "is not allowed with when.change: it keeps counts, not people")
	}
	pl.minPeople = s.MinPeople

	switch {
	case s.Cooldown < 0:
		p.addf("cooldown", "must not be negative, got %s", s.Cooldown)
	case s.Cooldown > MaxWithin:
		p.addf("cooldown", "must be at most %s, got %s", MaxWithin, s.Cooldown)
	}
	tmpl, err := parseMessage(s.Message)
	if err != nil {
		reason, line := messageProblem(err, s.Message, s.messageLine)
		p.addAt("message", reason, line)
	}
	pl.tmpl = tmpl
	pl.namesAccount = strings.Contains(s.Message, "AccountName")
	if p.found > before {
		return nil
	}
	return pl
}

// window checks a window or half-life and returns it.
func window(p *problems, path string, d, most Duration) time.Duration {
	switch {
	case d <= 0:
		p.addf(path, "must be more than 0, got %s", d)
	case d > most:
		p.addf(path, "must be at most %s, got %s", most, d)
	}
	return time.Duration(d)
}

// number formats a float for an error message as a document would write it.
func number(f float64) string {
	return fmt.Sprint(f)
}

// compileMatch checks a match (at depth nested nots) and compiles it;
// problems are reported under path.
func compileMatch(m *Match, path string, depth int, p *problems) matcher {
	c := matcher{typ: m.Type, contentID: m.ContentID}
	if m.Type == "" && m.URL == "" && m.ContentID == "" && len(m.Keywords) == 0 && m.Where == "" && m.Not == nil &&
		!p.under(path) {
		// (A field that failed to decode already explains the empty match.)
		p.add(path, "at least one of type, url, content_id, keywords, where, not is required")
	}
	if m.Type != "" && !eventTypePattern.MatchString(m.Type) {
		p.addf(path+".type", "%q is not a lowercase event type", m.Type)
	}
	if m.URL != "" {
		c.url, c.hasURL = compileGlob(m.URL), true
	}
	if len(m.Keywords) > 0 {
		c.keywords = compileKeywords(m.Keywords, path+".keywords", p)
	}
	if m.Where != "" {
		w, err := compileWhere(m.Where)
		if err != nil {
			p.add(path+".where", err.Error())
		}
		c.where = w
	}
	if m.Not != nil {
		if depth+1 > MaxNotDepth {
			p.addf(path+".not", "nested too deeply: at most %d levels of not", MaxNotDepth)
		} else {
			n := compileMatch(m.Not, path+".not", depth+1, p)
			c.not = &n
		}
	}
	return c
}

func oneOf(p *problems, path, value string, allowed ...string) {
	for _, a := range allowed {
		if value == a {
			return
		}
	}
	p.addf(path, "%q is not one of %s", value, strings.Join(allowed, ", "))
}

// planOf returns the plan of s, compiling it unless ParseSignal already
// did; nil when s is invalid. s may be built by hand: it is normalized
// first, and its zero Cooldown means no cooldown.
func planOf(s *Signal, hash string) *plan {
	if c := s.compiled; c != nil && c.hash == hash {
		return c
	}
	pl := compile(s.normalized(), &problems{})
	if pl != nil {
		pl.hash = hash
	}
	return pl
}
