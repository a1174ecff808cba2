package detector

import (
	"hash/maphash"

	"github.com/dowserhq/dowser/schema"
)

// matcher is a compiled Match. The cheap tests run first, so that an event
// of another type or URL never reaches keywords or CEL.
type matcher struct {
	typ       string
	contentID string
	url       glob
	hasURL    bool
	keywords  *keywordSet   // nil: no keywords
	where     *whereProgram // nil: no where
	not       *matcher
}

// matches reports whether the event of x satisfies m. Without keywords and
// where it allocates nothing.
func (m *matcher) matches(x *evalCtx) bool {
	ev := x.ev
	if m.typ != "" && m.typ != ev.Type {
		return false
	}
	if m.contentID != "" && m.contentID != ev.ContentID {
		return false
	}
	if m.hasURL && !m.url.match(x.url()) {
		return false
	}
	if m.keywords != nil && !m.keywords.in(x.text()) {
		return false
	}
	if m.where != nil && !x.where(m.where) {
		return false
	}
	return m.not == nil || !m.not.matches(x)
}

// evalCtx is one event on its way through the engine's signals: the event,
// the identity it counts for, and what several signals may need from it,
// computed at most once.
type evalCtx struct {
	ev *schema.Event
	// customerID is the known customer id: the event's, else the one its
	// anonymous id is linked to, else "".
	customerID string
	// key is whom the event counts for: customerID, else the anonymous id.
	key string
	// account is the event's account id, else the linked customer's.
	account string
	// accountName is the event's account's name, "" when it has none or
	// the account came from a link.
	accountName string
	// unnamed are the alerts of this event whose message wants the
	// account's name, which the event did not carry; see NameAccount.
	unnamed []unnamedAlert
	// lifecycle is the event's lifecycle, else the linked customer's; ""
	// when unknown.
	lifecycle string
	// watermark is the engine's W in Unix nanoseconds, after this event
	// was observed.
	watermark int64

	tokens    textIndex
	tokenized bool
	cel       whereEvent
	celReady  bool
	wheres    [4]whereResult // the first where results, by source
	whereN    int
	// whereStops counts where evaluations stopped at a limit.
	whereStops uint64
	// ev's evidence, counted for key, once evidenceReady: one copy that
	// every record of the event shares
	evidenceOf    *schema.Evidence
	evidenceReady bool
	// evidenceURL cleans evidence URLs; see Engine.SetEvidenceURL.
	evidenceURL func(string) string
	// ev's "url" property, once urlReady
	urlProp  string
	urlReady bool
	// subjects are the subject keys states were created for during this
	// event, so that every signal's state shares the string.
	subjects  [2]string
	subjectsN int
	// marked are the subjects this event marked changed, so that the
	// signals of one subject mark it once.
	marked  [2]string
	markedN int
	// dispatch is the engine's, which tests each match once per event.
	dispatch *dispatch
	// seed is the engine's hash seed; hash is ev's id's, once hashReady.
	seed      maphash.Seed
	hash      uint32
	hashReady bool
}

// reset prepares x for ev as id resolves it.
func (x *evalCtx) reset(ev *schema.Event, id link) {
	x.ev = ev
	x.unnamed = x.unnamed[:0]
	x.customerID = ev.Customer.ID
	x.account = ev.Customer.AccountID
	x.accountName = ev.Customer.AccountName
	x.lifecycle = ev.Customer.Lifecycle
	if x.customerID == "" && id.customer != "" {
		x.customerID = id.customer
		if x.account == "" {
			x.account = id.account
		}
		if x.lifecycle == "" {
			x.lifecycle = id.lifecycle
		}
	}
	x.key = x.customerID
	if x.key == "" {
		x.key = ev.Customer.AnonymousID
	}
	x.tokenized, x.celReady, x.evidenceReady, x.urlReady = false, false, false, false
	x.whereN = 0
	x.hashReady = false
	x.subjectsN = 0
	x.markedN = 0
}

// release drops the references to the event, so that an idle engine does
// not keep the caller's last event alive.
func (x *evalCtx) release() {
	x.ev = nil
	x.cel = whereEvent{}
	x.wheres, x.whereN = [4]whereResult{}, 0
	x.subjects, x.subjectsN = [2]string{}, 0
	x.marked, x.markedN = [2]string{}, 0
	x.evidenceOf, x.urlProp = nil, ""
	x.customerID, x.key, x.account, x.lifecycle = "", "", "", ""
}

// effectiveLifecycle is the lifecycle audiences compare: prospect when it
// is unknown.
func (x *evalCtx) effectiveLifecycle() string {
	if x.lifecycle == "" {
		return schema.LifecycleProspect
	}
	return x.lifecycle
}

// text returns the event's words, tokenizing them on first use.
func (x *evalCtx) text() *textIndex {
	if !x.tokenized {
		x.tokens.reset()
		for _, name := range searchedProperties {
			x.tokens.add(x.ev.Prop(name))
		}
		x.tokenized = true
	}
	return &x.tokens
}

// evidence is the evidence record of the event, counted for x.key.
func (x *evalCtx) evidence() *schema.Evidence {
	if !x.evidenceReady {
		ev := schema.EvidenceOf(x.ev)
		ev.CustomerID = x.key
		if x.evidenceURL != nil && ev.URL != "" {
			ev.URL = x.evidenceURL(ev.URL)
		}
		x.evidenceOf = &ev
		x.evidenceReady = true
	}
	return x.evidenceOf
}

// subjectString returns key as a string: the same string for every
// signal that creates a state of that subject for this event.
func (x *evalCtx) subjectString(key []byte) string {
	for _, s := range x.subjects[:x.subjectsN] {
		if s == string(key) {
			return s
		}
	}
	s := string(key)
	if x.subjectsN < len(x.subjects) {
		x.subjects[x.subjectsN] = s
		x.subjectsN++
	}
	return s
}

// mark marks subject changed in m, once per event.
func (x *evalCtx) mark(m *changeMarks, subject string) {
	for _, s := range x.marked[:x.markedN] {
		if s == subject {
			return
		}
	}
	if x.markedN < len(x.marked) {
		x.marked[x.markedN] = subject
		x.markedN++
	}
	m.mark(subject)
}

// holds reports whether the match of dispatch slot s holds for the event.
func (x *evalCtx) holds(s int32) bool { return x.dispatch.holds(x, s) }

// idHash is the hash of the event's id that records keep.
func (x *evalCtx) idHash() uint32 {
	if !x.hashReady {
		x.hash = idHash(x.seed, x.ev.ID)
		x.hashReady = true
	}
	return x.hash
}

// idHash is the hash of a non-empty event id that records keep; an
// engine hashes every id with its own seed.
func idHash(seed maphash.Seed, id string) uint32 {
	return uint32(maphash.String(seed, id))
}

// url is the event's "url" property, "" when it has none.
func (x *evalCtx) url() string {
	if !x.urlReady {
		x.urlProp = x.ev.Prop("url")
		x.urlReady = true
	}
	return x.urlProp
}

// value returns the event's value of f, "" when it has none.
func (x *evalCtx) value(f field) string {
	ev := x.ev
	switch f.kind {
	case fieldType:
		return ev.Type
	case fieldSource:
		return ev.Source
	case fieldContentID:
		return ev.ContentID
	case fieldCustomerID:
		return x.key
	case fieldAccountID:
		return x.account
	case fieldProperty:
		return propertyText(ev.Properties[f.prop])
	}
	return ""
}
