package detector

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"text/template/parse"
	"time"

	"github.com/dowserhq/dowser/schema"
)

// Values of [Signal.Audience]: whose events a signal counts, by the lifecycle
// of the customer behind the event.
const (
	AudienceProspect = "prospect"
	AudienceCustomer = "customer"
	AudienceAny      = "any"
)

// Values of [Signal.Scope]: whose behaviour is counted together.
const (
	ScopeCustomer = "customer"
	ScopeAccount  = "account"
)

// Limits and defaults of signal definitions.
const (
	// DefaultMessage is the message template of a signal that has none, and
	// the fallback when a template fails to execute.
	DefaultMessage = "{{.Signal}} fired for {{.Subject}}"
	// MaxCount is the largest threshold count, and the largest min_people.
	MaxCount = 10000
	// MaxWithin is the longest threshold or sequence window, and the
	// longest cooldown.
	MaxWithin = Duration(400 * day)
	// MaxHalfLife is the longest score half-life.
	MaxHalfLife = Duration(90 * day)
	// MaxMessageBytes bounds the text of a message template.
	MaxMessageBytes = 2048
	// MaxEvidence is the most evidence records an alert carries: those of
	// the newest events that made it fire.
	MaxEvidence = 20
	// MaxSteps is the most steps of a sequence; it has at least 2.
	MaxSteps = 8
	// MaxExpect is the most expect matches of a silence.
	MaxExpect = 8
	// MaxBaseline is the most periods a change averages.
	MaxBaseline = 52
	// MaxRise is the largest factor of a change.
	MaxRise = 1000
	// MaxRules is the most rules of a score.
	MaxRules = 50
	// MaxPoints is the most points one score rule gives.
	MaxPoints = 10000
	// MaxLevel is the highest score level.
	MaxLevel = 1e9
	// MaxKeywords is the most keywords of one match.
	MaxKeywords = 1000
	// MaxKeywordBytes bounds one keyword or phrase.
	MaxKeywordBytes = 100
	// MaxKeywordWords is the most words of one keyword phrase.
	MaxKeywordWords = 8
	// MaxWhereBytes bounds the text of a where expression.
	MaxWhereBytes = 2048
	// MaxWhereCost is the CEL cost limit of one evaluation of a where
	// expression (about one unit per operation, and per few bytes a
	// string function reads). An evaluation that would cost more stops
	// there and does not match.
	MaxWhereCost = 100_000
	// MaxNotDepth is how deeply `not` may nest inside a match.
	MaxNotDepth = 4
)

// Signal is one pain-point definition: which events to watch, what pattern
// of them makes a subject interesting, and what to tell whom. It is written
// as a YAML or JSON document and read with [ParseSignal], which applies the
// defaults documented on each field. docs/signals.md is the reference for
// marketers; [Engine] states the exact rules.
//
// A Signal is never modified by the package after ParseSignal returns it, so
// one value may be shared by the engines of several partitions.
type Signal struct {
	// ID names the signal for good: lowercase letters, digits, '_', '.' and
	// '-', starting with a letter or digit, at most 64 characters.
	ID string `json:"id" yaml:"id"`
	// Name is the human title; it defaults to ID.
	Name string `json:"name,omitempty" yaml:"name,omitempty"`
	// Owner is the marketer responsible for the signal, the fallback
	// marketing recipient of its alerts. Required.
	Owner string `json:"owner" yaml:"owner"`
	// Audience is AudienceProspect, AudienceCustomer or AudienceAny (the
	// default). See [Engine] for how an event's lifecycle is read.
	Audience string `json:"audience,omitempty" yaml:"audience,omitempty"`
	// Scope is ScopeCustomer (the default) or ScopeAccount: whether events
	// are counted per customer or per account.
	Scope string `json:"scope,omitempty" yaml:"scope,omitempty"`
	// MinPeople, when more than 0, requires that many different customers
	// among the events a threshold counts, a sequence's steps or a score's
	// kept scoring events. Only with ScopeAccount, and not with a Silence;
	// 0 (the default) means no such requirement.
	MinPeople int `json:"min_people,omitempty" yaml:"min_people,omitempty"`
	// Priority is one of schema.PriorityLow, PriorityMedium (the default),
	// PriorityHigh, PriorityUrgent; alerts carry it.
	Priority string `json:"priority,omitempty" yaml:"priority,omitempty"`
	// When is the firing condition.
	When When `json:"when" yaml:"when"`
	// Cooldown is how long after an alert the same subject cannot fire the
	// same signal again. Zero means no cooldown. When the document has no
	// cooldown, ParseSignal sets it to the threshold's, sequence's or
	// silence's Within, or to the score's HalfLife.
	Cooldown Duration `json:"cooldown" yaml:"cooldown"`
	// Message is a text/template rendered with [MessageData] into each
	// alert's message; it defaults to DefaultMessage.
	Message string `json:"message,omitempty" yaml:"message,omitempty"`
	// Version is the stored version of the definition, set by the store,
	// never read from the document. Alerts name the version that fired them.
	Version int `json:"-" yaml:"-"`

	// messageLine is the document line of the message's first line, 0
	// when unknown, so that a template error can name its line.
	messageLine int

	// compiled is what ParseSignal compiled, reused by engines while the
	// signal's Hash still equals compiled.hash. Never modified once set.
	compiled *plan
}

// When is a signal's firing condition: exactly one construct is set.
type When struct {
	Threshold *Threshold `json:"threshold,omitempty" yaml:"threshold,omitempty"`
	Sequence  *Sequence  `json:"sequence,omitempty" yaml:"sequence,omitempty"`
	Score     *Score     `json:"score,omitempty" yaml:"score,omitempty"`
	Silence   *Silence   `json:"silence,omitempty" yaml:"silence,omitempty"`
	Change    *Change    `json:"change,omitempty" yaml:"change,omitempty"`
}

// Change fires when a subject's matching events in the current period
// rise to Rise times their average over the Baseline periods before it:
// "support emails this week at least 3 × the weekly average of the
// previous 8 weeks"; or, with Fall, when a period ends with at most Fall
// times that average: "product usage down 50% week over week". Periods are fixed, aligned to Monday 1970-01-05
// 00:00 UTC. Only the count per period is kept, so long periods cost
// little. See [Engine] for the exact rule.
type Change struct {
	// Match selects the events counted.
	Match Match `json:"match" yaml:"match"`
	// Period is the length of a period, more than 0 and at most MaxWithin.
	Period Duration `json:"period" yaml:"period"`
	// Baseline is how many periods before the current one are averaged,
	// 1 (the default) to MaxBaseline.
	Baseline int `json:"baseline,omitempty" yaml:"baseline,omitempty"`
	// Rise, for a rise, is the factor, more than 1 and at most MaxRise.
	Rise float64 `json:"rise,omitempty" yaml:"rise,omitempty"`
	// Fall, for a fall, is the fraction, more than 0 and less than 1: a
	// closed period with at most Fall times the baseline's average fires.
	// Exactly one of Rise and Fall is set.
	Fall float64 `json:"fall,omitempty" yaml:"fall,omitempty"`
	// MinCount is the fewest events of the current period that fire, 1
	// (the default) to MaxCount.
	MinCount int `json:"min_count,omitempty" yaml:"min_count,omitempty"`
}

// Threshold fires when a subject has at least Count matching events (or
// Count distinct values of a field) within a sliding window of event time.
// See [Engine] for the exact rule.
type Threshold struct {
	// Match selects the events that count.
	Match Match `json:"match" yaml:"match"`
	// Count is how many matching events (distinct values, with Distinct)
	// fire, 1 to MaxCount.
	Count int `json:"count" yaml:"count"`
	// Within is the window length, more than 0 and at most MaxWithin.
	Within Duration `json:"within" yaml:"within"`
	// Distinct, when set, counts the distinct non-empty values of an event
	// field among the matching events in the window instead of the events:
	// "type", "source", "content_id", "customer.id", "customer.account_id"
	// or "properties.<name>".
	Distinct string `json:"distinct,omitempty" yaml:"distinct,omitempty"`
}

// Sequence fires when a subject's events match Steps in order, all within
// a window, with no event matching Absent between the first step and the
// last. See [Engine] for the exact rule.
type Sequence struct {
	// Steps are 2 to MaxSteps matches, in the order the events must happen.
	Steps []Match `json:"steps" yaml:"steps"`
	// Within is the longest time from the first step to the last, more
	// than 0 and at most MaxWithin.
	Within Duration `json:"within" yaml:"within"`
	// Absent, when set, is an event that must not happen between the first
	// step and the last.
	Absent *Match `json:"absent,omitempty" yaml:"absent,omitempty"`
}

// Score keeps a decaying score per subject: every matching event adds the
// points of each rule it matches, the score halves every HalfLife, and the
// signal fires when an event lifts the score from below Level to Level or
// more. See [Engine] for the exact rule.
type Score struct {
	// Rules are 1 to MaxRules matches with their points.
	Rules []ScoreRule `json:"rules" yaml:"rules"`
	// HalfLife is how long a point takes to decay to half a point, more
	// than 0 and at most MaxHalfLife.
	HalfLife Duration `json:"half_life" yaml:"half_life"`
	// Level is the score that fires, more than 0 and at most MaxLevel.
	Level float64 `json:"level" yaml:"level"`
}

// Silence fires when an event matching After is not followed, within
// Within, by an event matching one of Expect: "attended the webinar, then
// no pricing view within 3 days". It fires once the partition's event time
// passes the deadline (see [Engine] and [Engine.Advance] for the exact
// rule).
type Silence struct {
	// After is the event that starts the wait.
	After Match `json:"after" yaml:"after"`
	// Expect are 1 to MaxExpect matches; an event matching any of them
	// within the wait ends it without an alert.
	Expect []Match `json:"expect" yaml:"expect"`
	// Within is how long the wait lasts, more than 0 and at most MaxWithin.
	Within Duration `json:"within" yaml:"within"`
}

// ScoreRule gives Points to every event that matches Match.
type ScoreRule struct {
	Match Match `json:"match" yaml:"match"`
	// Points is more than 0 and at most MaxPoints.
	Points float64 `json:"points" yaml:"points"`
}

// Match selects events. Every field that is set must match, and at least
// one of Type, URL, ContentID, Keywords and Where must be set.
type Match struct {
	// Type is the event type, compared for equality.
	Type string `json:"type,omitempty" yaml:"type,omitempty"`
	// URL is a glob over the event's "url" property: '*' matches any run
	// of characters including '/', '?' exactly one character; the rest
	// matches itself, case-sensitively, and the whole URL must match.
	URL string `json:"url,omitempty" yaml:"url,omitempty"`
	// ContentID is the event's content id, compared for equality.
	ContentID string `json:"content_id,omitempty" yaml:"content_id,omitempty"`
	// Keywords match when any of them occurs in the "subject", "title" or
	// "body" property, case-insensitively, as whole words: a keyword is a
	// word or a phrase of up to MaxKeywordWords words, where a word is a
	// run of letters and digits and anything else separates words.
	Keywords []string `json:"keywords,omitempty" yaml:"keywords,omitempty"`
	// Where is a CEL expression over the variable `event` that must
	// evaluate to true; see docs/signals.md for the variable's fields. An
	// evaluation error (a missing property, the cost limit) is no match.
	Where string `json:"where,omitempty" yaml:"where,omitempty"`
	// Not, when set, is a match the event must not satisfy.
	Not *Match `json:"not,omitempty" yaml:"not,omitempty"`
}

// MessageData is what a signal's message template is executed with. Every
// field is filled for every alert:
//
//   - .Signal: the signal's name
//   - .SignalID: the signal's id
//   - .Customer: the triggering event's customer (customer id, else
//     anonymous id; an anonymous id linked to a customer gives the customer)
//   - .Account: the customer's account id, or .Customer when it has none
//   - .AccountName: the account's name when the event path knows it (it
//     looks names up in the directory; backtests and previews do not),
//     else .Account
//   - .Subject: "customer:<id>" or "account:<id>", whose behaviour fired
//   - .Count: threshold: the matching events in the window (distinct
//     values, with distinct); sequence: the number of steps; score: the
//     matching events that contributed to the score; silence: 1; change:
//     the matching events of the current period
//   - .People: the number of different customers among the events behind
//     .Count (for a score, among those of the last two half-lives; 1 for
//     a silence and a change)
//   - .Score: the score after the triggering event; for a change, the
//     current period's count over the baseline's average; else 0
//   - .Priority: the signal's priority
//   - .Evidence: the alert's evidence, oldest first (at most MaxEvidence)
//
// Example: "{{.AccountName}}: pricing viewed {{.Count}} times in 7 days".
type MessageData struct {
	Signal      string
	SignalID    string
	Customer    string
	Account     string
	AccountName string
	Subject     string
	Count       int
	People      int
	Score       float64
	Priority    string
	Evidence    []schema.Evidence
}

// FieldError is one problem of a signal definition: the dotted path of the
// field (empty for the document as a whole) and what is wrong with it.
type FieldError struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
	// Line is the document's line the problem is on, when the parser
	// knows it better than the field's path does (a YAML syntax error, a
	// line inside the message template); 0 otherwise.
	Line int `json:"line,omitempty"`
}

func (e FieldError) Error() string {
	if e.Path == "" {
		return e.Reason
	}
	return e.Path + ": " + e.Reason
}

// ValidationError lists every problem found in a signal definition, in the
// order found. ParseSignal returns it for every failure, syntax errors
// included.
type ValidationError struct {
	Problems []FieldError
}

// Error joins the problems with "; ", each as "path: reason".
func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Error()
	}
	return strings.Join(parts, "; ")
}

// problems collects FieldErrors, keeping one per field: once a path has a
// problem, later rules about it add nothing, so that a count that is not an
// integer is not also reported as out of range.
type problems struct {
	list []FieldError
	// blocked are fields whose shape was wrong: nothing under them is
	// reported either.
	blocked []string
	// found counts every problem added, kept or not.
	found int
}

func (p *problems) add(path, reason string) { p.addAt(path, reason, 0) }

// addAt adds a problem on the document's line (0: unknown).
func (p *problems) addAt(path, reason string, line int) {
	p.found++
	for _, q := range p.list {
		if q.Path == path {
			return
		}
	}
	for _, b := range p.blocked {
		if b == "" || path == b || strings.HasPrefix(path, b+".") || strings.HasPrefix(path, b+"[") {
			return
		}
	}
	p.list = append(p.list, FieldError{Path: path, Reason: reason, Line: line})
}

// has reports whether a problem was added about the field at path.
func (p *problems) has(path string) bool {
	for _, q := range p.list {
		if q.Path == path {
			return true
		}
	}
	return false
}

// under reports whether a problem was added about a field below path.
func (p *problems) under(path string) bool {
	for _, q := range p.list {
		if strings.HasPrefix(q.Path, path+".") || strings.HasPrefix(q.Path, path+"[") {
			return true
		}
	}
	return false
}

// shape adds a problem with the kind of a field's value (a list where a
// mapping belongs, say): nothing under path is reported after it.
func (p *problems) shape(path, reason string) {
	p.add(path, reason)
	p.blocked = append(p.blocked, path)
}

func (p *problems) shapef(path, format string, args ...any) {
	p.shape(path, fmt.Sprintf(format, args...))
}

func (p *problems) addf(path, format string, args ...any) {
	p.add(path, fmt.Sprintf(format, args...))
}

func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	return &ValidationError{Problems: p.list}
}

var (
	idPattern        = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)
	eventTypePattern = regexp.MustCompile(`^[a-z][a-z0-9_.-]{0,63}$`)
)

// normalized returns a copy of s with the defaults applied (all but the
// cooldown, whose default depends on the document). The copy shares nothing
// mutable with s.
func (s *Signal) normalized() *Signal {
	n := *s
	n.compiled = nil
	if t := n.When.Threshold; t != nil {
		c := *t
		c.Match = t.Match.clone()
		n.When.Threshold = &c
	}
	if q := n.When.Sequence; q != nil {
		c := *q
		c.Steps = make([]Match, len(q.Steps))
		for i := range q.Steps {
			c.Steps[i] = q.Steps[i].clone()
		}
		if q.Absent != nil {
			a := q.Absent.clone()
			c.Absent = &a
		}
		n.When.Sequence = &c
	}
	if q := n.When.Silence; q != nil {
		c := *q
		c.After = q.After.clone()
		c.Expect = make([]Match, len(q.Expect))
		for i := range q.Expect {
			c.Expect[i] = q.Expect[i].clone()
		}
		n.When.Silence = &c
	}
	if ch := n.When.Change; ch != nil {
		c := *ch
		c.Match = ch.Match.clone()
		if c.Baseline == 0 {
			c.Baseline = 1
		}
		if c.MinCount == 0 {
			c.MinCount = 1
		}
		n.When.Change = &c
	}
	if sc := n.When.Score; sc != nil {
		c := *sc
		c.Rules = make([]ScoreRule, len(sc.Rules))
		for i, r := range sc.Rules {
			c.Rules[i] = ScoreRule{Match: r.Match.clone(), Points: r.Points}
		}
		n.When.Score = &c
	}
	if n.Name == "" {
		n.Name = n.ID
	}
	if n.Audience == "" {
		n.Audience = AudienceAny
	}
	if n.Scope == "" {
		n.Scope = ScopeCustomer
	}
	if n.Priority == "" {
		n.Priority = schema.PriorityMedium
	}
	if n.Message == "" {
		n.Message = DefaultMessage
	}
	return &n
}

// clone returns a deep copy of m.
func (m Match) clone() Match {
	c := m
	c.Keywords = slices.Clone(m.Keywords)
	if m.Not != nil {
		n := m.Not.clone()
		c.Not = &n
	}
	return c
}

// defaultCooldown is the cooldown of a signal whose document has none: the
// window of a threshold or sequence, the half-life of a score.
func (s *Signal) defaultCooldown() Duration {
	switch w := s.When; {
	case w.Threshold != nil:
		return w.Threshold.Within
	case w.Sequence != nil:
		return w.Sequence.Within
	case w.Score != nil:
		return w.Score.HalfLife
	case w.Silence != nil:
		return w.Silence.Within
	case w.Change != nil:
		return w.Change.Period
	}
	return 0
}

// Hash returns a stable digest of the normalized definition (defaults
// applied, Version excluded): two signals with equal hashes evaluate the
// same way and render the same messages.
func (s *Signal) Hash() string {
	b, err := json.Marshal(s.normalized())
	if err != nil {
		// Only a hand-built signal with a NaN or infinite number fails to
		// encode; it is invalid and never compiled, so any stable digest
		// will do.
		b = []byte("invalid\x00" + s.ID + "\x00" + err.Error())
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// maxRenderedBytes bounds a rendered message; a template that writes more
// falls back to DefaultMessage.
const maxRenderedBytes = 4 << 10

var errMessageTooLong = errors.New("message longer than 4 KiB")

// defaultTemplate renders DefaultMessage; it cannot fail on MessageData.
var defaultTemplate = template.Must(template.New("message").Parse(DefaultMessage))

// parseMessage parses a message template, checks that executing it costs
// little, and executes it once against a full sample (MaxEvidence evidence
// records), so that a misspelt field or a function given the wrong types is
// reported when the signal is saved, not when it fires.
func parseMessage(text string) (*template.Template, error) {
	if len(text) > MaxMessageBytes {
		return nil, fmt.Errorf("is %d bytes, at most %d allowed", len(text), MaxMessageBytes)
	}
	tmpl, err := template.New("message").Parse(text)
	if err != nil {
		return nil, err
	}
	if len(tmpl.Templates()) > 1 {
		return nil, errors.New("defining templates is not allowed")
	}
	if err := checkCost(tmpl.Tree.Root, false); err != nil {
		return nil, err
	}
	sample := MessageData{
		Signal: "Sample", SignalID: "sample", Customer: "c-1", Account: "acme", AccountName: "Acme",
		Subject: "account:acme", Count: MaxEvidence, Priority: schema.PriorityMedium,
		Evidence: make([]schema.Evidence, MaxEvidence),
	}
	for i := range sample.Evidence {
		sample.Evidence[i] = schema.Evidence{
			EventID: fmt.Sprintf("evt-%d", i), Type: schema.TypePageView,
			Time: time.Date(2026, 1, 1, 0, i, 0, 0, time.UTC), CustomerID: "c-1",
			ContentID: "pricing-page", URL: "https://example.com/pricing", Title: "Pricing",
		}
	}
	if _, err := render(tmpl, &sample); err != nil {
		return nil, err
	}
	return tmpl, nil
}

// checkCost keeps a message template's execution time proportional to its
// length: text/template has no step limit, and a range over a number or
// ranges nested in each other (directly or through template calls) could
// run for hours inside Evaluate. So a template calls no templates and ranges
// only over .Evidence (at most MaxEvidence items), never inside a range.
func checkCost(n parse.Node, inRange bool) error {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := checkCost(c, inRange); err != nil {
				return err
			}
		}
	case *parse.IfNode:
		return checkBranches(&n.BranchNode, inRange)
	case *parse.WithNode:
		return checkBranches(&n.BranchNode, inRange)
	case *parse.RangeNode:
		if inRange {
			return fmt.Errorf("line %d: range inside a range is not allowed", n.Line)
		}
		if !overEvidence(n.Pipe) {
			return fmt.Errorf("line %d: range is only allowed over .Evidence", n.Line)
		}
		if err := checkCost(n.List, true); err != nil {
			return err
		}
		return checkCost(n.ElseList, false)
	case *parse.TemplateNode:
		return fmt.Errorf("line %d: calling templates is not allowed", n.Line)
	}
	return nil
}

func checkBranches(b *parse.BranchNode, inRange bool) error {
	if err := checkCost(b.List, inRange); err != nil {
		return err
	}
	return checkCost(b.ElseList, inRange)
}

// overEvidence reports whether a range pipeline is .Evidence or $.Evidence.
func overEvidence(pipe *parse.PipeNode) bool {
	if pipe == nil || len(pipe.Cmds) != 1 || len(pipe.Cmds[0].Args) != 1 {
		return false
	}
	switch a := pipe.Cmds[0].Args[0].(type) {
	case *parse.FieldNode:
		return slices.Equal(a.Ident, []string{"Evidence"})
	case *parse.VariableNode:
		return slices.Equal(a.Ident, []string{"$", "Evidence"})
	}
	return false
}

// render executes tmpl, turning a panic in the template into an error so
// that a message can never take the engine down.
func render(tmpl *template.Template, data *MessageData) (msg string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("executing message template: %v", r)
		}
	}()
	w := &limitedBuilder{}
	if err := tmpl.Execute(w, data); err != nil {
		return "", err
	}
	return w.String(), nil
}

// limitedBuilder is a strings.Builder that refuses to grow past
// maxRenderedBytes.
type limitedBuilder struct{ strings.Builder }

func (b *limitedBuilder) Write(p []byte) (int, error) {
	if b.Len()+len(p) > maxRenderedBytes {
		return 0, errMessageTooLong
	}
	return b.Builder.Write(p)
}
