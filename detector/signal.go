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
	// MaxCount is the largest threshold count.
	MaxCount = 10000
	// MaxWithin is the longest threshold window, and the longest cooldown.
	MaxWithin = Duration(400 * day)
	// MaxMessageBytes bounds the text of a message template.
	MaxMessageBytes = 2048
	// MaxEvidence is the most evidence records an alert carries: those of
	// the newest matching events in the window.
	MaxEvidence = 20
)

// Signal is one pain-point definition: which events to watch, how many of
// them within which window make a subject interesting, and what to tell whom.
// It is written as a YAML or JSON document and read with [ParseSignal],
// which applies the defaults documented on each field.
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
	// default). See [Engine.Evaluate] for how an event's lifecycle is read.
	Audience string `json:"audience,omitempty" yaml:"audience,omitempty"`
	// Scope is ScopeCustomer (the default) or ScopeAccount: whether events
	// are counted per customer or per account.
	Scope string `json:"scope,omitempty" yaml:"scope,omitempty"`
	// Priority is one of schema.PriorityLow, PriorityMedium (the default),
	// PriorityHigh, PriorityUrgent; alerts carry it.
	Priority string `json:"priority,omitempty" yaml:"priority,omitempty"`
	// When is the firing condition.
	When When `json:"when" yaml:"when"`
	// Cooldown is how long after an alert the same subject cannot fire the
	// same signal again. Zero means no cooldown. ParseSignal sets it to the
	// threshold's Within when the document has no cooldown.
	Cooldown Duration `json:"cooldown" yaml:"cooldown"`
	// Message is a text/template rendered with [MessageData] into each
	// alert's message; it defaults to DefaultMessage.
	Message string `json:"message,omitempty" yaml:"message,omitempty"`
	// Version is the stored version of the definition, set by the store,
	// never read from the document. Alerts name the version that fired them.
	Version int `json:"-" yaml:"-"`
}

// When is a signal's firing condition: exactly one construct is set. Only
// Threshold exists so far; sequence and score are reserved names that
// ParseSignal rejects as not supported yet.
type When struct {
	Threshold *Threshold `json:"threshold,omitempty" yaml:"threshold,omitempty"`
}

// Threshold fires when a subject has at least Count matching events within
// a sliding window of event time. See [Engine.Evaluate] for the exact rule.
type Threshold struct {
	// Match selects the events that count.
	Match Match `json:"match" yaml:"match"`
	// Count is how many matching events fire, 1 to MaxCount.
	Count int `json:"count" yaml:"count"`
	// Within is the window length, more than 0 and at most MaxWithin.
	Within Duration `json:"within" yaml:"within"`
	// Distinct is reserved for counting distinct values of an event field;
	// ParseSignal rejects it as not supported yet.
	Distinct string `json:"distinct,omitempty" yaml:"distinct,omitempty"`
}

// Match selects events. Every field that is set must match; at least one
// must be set.
type Match struct {
	// Type is the event type, compared for equality.
	Type string `json:"type,omitempty" yaml:"type,omitempty"`
	// URL is a glob over the event's "url" property: '*' matches any run
	// of characters including '/', '?' exactly one character; the rest
	// matches itself, case-sensitively, and the whole URL must match.
	URL string `json:"url,omitempty" yaml:"url,omitempty"`
	// ContentID is the event's content id, compared for equality.
	ContentID string `json:"content_id,omitempty" yaml:"content_id,omitempty"`
}

// MessageData is what a signal's message template is executed with. Every
// field is filled for every alert:
//
//   - .Signal: the signal's name
//   - .SignalID: the signal's id
//   - .Customer: the triggering event's customer (customer id, else anonymous id)
//   - .Account: the event's account id, or .Customer when it has none
//   - .Subject: "customer:<id>" or "account:<id>", whose behaviour fired
//   - .Count: the number of matching events in the window
//   - .Priority: the signal's priority
//   - .Evidence: the alert's evidence, oldest first (at most MaxEvidence)
//
// Example: "{{.Account}}: pricing viewed {{.Count}} times in 7 days".
type MessageData struct {
	Signal   string
	SignalID string
	Customer string
	Account  string
	Subject  string
	Count    int
	Priority string
	Evidence []schema.Evidence
}

// FieldError is one problem of a signal definition: the dotted path of the
// field (empty for the document as a whole) and what is wrong with it.
type FieldError struct {
	Path   string
	Reason string
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
	// covered are fields a more precise problem below them already explains.
	covered []string
	// found counts every problem added, kept or not.
	found int
}

func (p *problems) add(path, reason string) {
	p.found++
	for _, q := range p.list {
		if q.Path == path {
			return
		}
	}
	for _, b := range p.blocked {
		if b == "" || path == b || strings.HasPrefix(path, b+".") {
			return
		}
	}
	if slices.Contains(p.covered, path) {
		return
	}
	p.list = append(p.list, FieldError{Path: path, Reason: reason})
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

// cover makes later problems about path itself add nothing: a more precise
// problem below it has already been reported, such as "when.sequence: not
// supported yet", which makes "when: exactly one of ... is required" noise.
func (p *problems) cover(path string) { p.covered = append(p.covered, path) }

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
	if n.When.Threshold != nil {
		t := *n.When.Threshold
		n.When.Threshold = &t
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

// Hash returns a stable digest of the normalized definition (defaults
// applied, Version excluded): two signals with equal hashes evaluate the
// same way and render the same messages.
func (s *Signal) Hash() string {
	b, err := json.Marshal(s.normalized())
	if err != nil {
		// Unreachable: a Signal holds only strings, ints and Durations.
		panic(fmt.Sprintf("detector: encoding signal %q: %v", s.ID, err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// compile checks every rule on a normalized signal and, when it has no
// problem, returns its evaluation program. Problems are added to p.
func compile(s *Signal, p *problems) *program {
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

	var url glob
	t := s.When.Threshold
	if t == nil {
		p.add("when", "exactly one of threshold, sequence, score is required")
	} else {
		const tp = "when.threshold"
		m := t.Match
		if m.Type == "" && m.URL == "" && m.ContentID == "" {
			p.add(tp+".match", "at least one of type, url, content_id is required")
		}
		if m.Type != "" && !eventTypePattern.MatchString(m.Type) {
			p.addf(tp+".match.type", "%q is not a lowercase event type", m.Type)
		}
		if m.URL != "" {
			url = compileGlob(m.URL)
		}
		if t.Count < 1 || t.Count > MaxCount {
			p.addf(tp+".count", "must be between 1 and %d, got %d", MaxCount, t.Count)
		}
		switch {
		case t.Within <= 0:
			p.addf(tp+".within", "must be more than 0, got %s", t.Within)
		case t.Within > MaxWithin:
			p.addf(tp+".within", "must be at most %s, got %s", MaxWithin, t.Within)
		}
		if t.Distinct != "" {
			p.add(tp+".distinct", "not supported yet")
		}
	}
	switch {
	case s.Cooldown < 0:
		p.addf("cooldown", "must not be negative, got %s", s.Cooldown)
	case s.Cooldown > MaxWithin:
		p.addf("cooldown", "must be at most %s, got %s", MaxWithin, s.Cooldown)
	}
	tmpl, err := parseMessage(s.Message)
	if err != nil {
		p.add("message", err.Error())
	}
	if p.found > before {
		return nil
	}
	return &program{
		sig:      s,
		url:      url,
		hasURL:   t.Match.URL != "",
		count:    t.Count,
		within:   time.Duration(t.Within),
		cooldown: time.Duration(s.Cooldown),
		tmpl:     tmpl,
	}
}

func oneOf(p *problems, path, value string, allowed ...string) {
	for _, a := range allowed {
		if value == a {
			return
		}
	}
	p.addf(path, "%q is not one of %s", value, strings.Join(allowed, ", "))
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
		Signal: "Sample", SignalID: "sample", Customer: "c-1", Account: "acme",
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
