package notify

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/schema"
)

// Directory answers the ownership questions routing asks; the
// PostgreSQL Directory store implements it. Owners come with their role
// as it is now ("" for an id that is no user), and the router skips those
// whose role does not fit (dowser.OwnerFits): a role changed or a user
// deleted after the owner was saved. Reps and managers it returns are
// users of those roles. Routing may ask two questions at once.
type Directory interface {
	// ContactRouting returns the person's owner and account, and the
	// owner's role; a contact with only its ID when the person is
	// unknown.
	ContactRouting(ctx context.Context, customerID string) (c dowser.Contact, ownerRole dowser.Role, err error)
	// AccountRouting returns the account and its owner's role; an account
	// with only its ID when the account is unknown.
	AccountRouting(ctx context.Context, accountID string) (a dowser.Account, ownerRole dowser.Role, err error)
	// RoutingTerritoryRules returns every territory rule in the order they
	// are tried, and roles[i], the role of rules[i]'s rep.
	RoutingTerritoryRules(ctx context.Context) (rules []dowser.TerritoryRule, roles []dowser.Role, err error)
	// Reps returns the ids of every user with the rep role.
	Reps(ctx context.Context) ([]string, error)
	// ContentOwners returns the owners of the content items with one of the
	// ids, or whose URL prefix one of the urls starts with.
	ContentOwners(ctx context.Context, contentIDs, urls []string) ([]dowser.Owner, error)
	// RoleOf returns the user's role, "" when there is no such user.
	RoleOf(ctx context.Context, userID string) (dowser.Role, error)
	// Subscribers returns the managers subscribed to one of the users.
	Subscribers(ctx context.Context, userIDs []string) ([]string, error)
}

// Presence tells whether a user has a live alert stream. *Hub implements
// it for the connections it holds; *ClusterPresence for those of every
// instance.
type Presence interface {
	Connected(userID string) bool
}

var _ Presence = (*Hub)(nil)

// How the sales recipient of an alert was found, in the order they are
// tried.
const (
	ByContact    = "contact"     // the person's own rep
	ByAccount    = "account"     // the account's owner
	ByTerritory  = "territory"   // the first matching territory rule
	ByRoundRobin = "round_robin" // spread over the reps
	ByManagers   = "managers"    // the owner is away: their managers
	ByNobody     = ""            // there are no reps at all
)

// Route is who receives an alert, and why.
type Route struct {
	// Sales is the rep responsible for the alert's subject; "" for none.
	Sales string
	// SalesBy is the step that found Sales: ByContact, ByAccount, ... .
	SalesBy string
	// Rule is the territory rule's id when SalesBy is ByTerritory.
	Rule string
	// Marketing are the owners of the content in the evidence, else the
	// signal's owner.
	Marketing []string
	// Managers are the managers subscribed to Sales or to a marketing
	// recipient.
	Managers []string
	// Away are the owners and territory reps passed over because they
	// are out of office; managers subscribed to them receive the alert.
	Away []string
	// Skipped are the stored owners passed over because they are no user
	// or their role does not fit what they own; for the caller to log and
	// count.
	Skipped []Skip
}

// Skip is an owner routing passed over.
type Skip struct {
	// Step is where: ByContact, ByAccount, ByTerritory, or "content" or
	// "signal" for the marketing recipients.
	Step string
	// Owner is the stored id; Role its role now, "" for no user.
	Owner string
	Role  dowser.Role
}

// Marketing steps, for Skip.Step.
const (
	ByContent = "content"
	BySignal  = "signal"
)

// Recipients returns the route's users, sorted and without duplicates.
func (r Route) Recipients() []string {
	var out []string
	if r.Sales != "" {
		out = append(out, r.Sales)
	}
	out = append(out, r.Marketing...)
	out = append(out, r.Managers...)
	slices.Sort(out)
	return slices.Compact(out)
}

// Absences tells who is out of office; the PostgreSQL Escalations store
// implements it.
type Absences interface {
	// Away returns those of the users who are out of office at at.
	Away(ctx context.Context, userIDs []string, at time.Time) ([]string, error)
}

// Router decides an alert's recipients.
type Router struct {
	dir      Directory
	presence Presence
	absences Absences
	now      func() time.Time
}

// SkipAway makes the router pass over users out of office, as absences
// says at now (nil: time.Now): an owner who is away gives the alert to
// the rep of the first matching territory rule who is not, else to the
// managers subscribed to the owner; a territory rule's rep who is away
// to the next matching rule's. It returns r.
func (r *Router) SkipAway(absences Absences, now func() time.Time) *Router {
	if now == nil {
		now = time.Now
	}
	r.absences, r.now = absences, now
	return r
}

// away returns those of ids who are out of office; none without absences.
func (r *Router) away(ctx context.Context, ids []string) ([]string, error) {
	if r.absences == nil || len(ids) == 0 {
		return nil, nil
	}
	return r.absences.Away(ctx, ids, r.now())
}

// NewRouter returns a router asking dir. presence, which may be nil, lets
// the round-robin step prefer reps connected right now.
func NewRouter(dir Directory, presence Presence) *Router {
	return &Router{dir: dir, presence: presence}
}

// Recipients returns, without duplicates and sorted, the users who receive
// the alert: Route's sales rep, marketing recipients and managers.
func (r *Router) Recipients(ctx context.Context, a *schema.Alert) ([]string, error) {
	route, err := r.Route(ctx, a)
	if err != nil {
		return nil, err
	}
	return route.Recipients(), nil
}

// Route decides who receives the alert.
//
// The sales recipient is the first of: the owner of the person who
// triggered the alert (a contact); the owner of the alert's account (or of
// the contact's account when the alert names none); the rep of the first
// territory rule the account's attributes match; and, failing all of
// those, one of the reps, chosen by rendezvous hashing of the account (else
// the alert's subject) among the reps connected right now, or among all
// reps when none is. Each account thus has a fixed ranking of reps and goes
// to the highest-ranked one available: the same rep every time while the
// set of reps stays the same, and adding a rep moves only the accounts it
// now ranks first for. Presence is the router's presence: with a
// ClusterPresence, who is connected to any instance.
//
// With SkipAway, an owner or territory rep out of office is passed over
// (Route.Away): the next matching territory rule's rep present gets the
// alert, else the away owner's managers, else the round-robin among the
// reps present.
//
// The marketing recipients are the owners of the content items in the
// evidence, or the signal's owner when none of them has one. Managers
// subscribed to any of these recipients (or to a user passed over as
// away) receive the alert too.
func (r *Router) Route(ctx context.Context, a *schema.Alert) (Route, error) {
	var route Route
	var ids, urls []string
	for _, ev := range a.Evidence {
		if ev.ContentID != "" {
			ids = append(ids, ev.ContentID)
		}
		if ev.URL != "" {
			urls = append(urls, ev.URL)
		}
	}
	// The content owners do not depend on the sales lookups: ask for them
	// meanwhile, so that routing waits for the directory one answer less.
	type owners struct {
		owners []dowser.Owner
		err    error
	}
	marketing := make(chan owners, 1)
	go func() {
		o, err := r.dir.ContentOwners(ctx, ids, urls)
		marketing <- owners{o, err}
	}()
	var err error
	route.Sales, route.SalesBy, route.Rule, route.Skipped, route.Away, err = r.sales(ctx, a)
	m := <-marketing
	if err != nil {
		return Route{}, fmt.Errorf("routing %s: %w", a.ID, err)
	}
	if m.err != nil {
		return Route{}, fmt.Errorf("routing %s: %w", a.ID, m.err)
	}
	for _, o := range m.owners {
		if dowser.OwnerFits(dowser.KindContent, o.Role) {
			route.Marketing = append(route.Marketing, o.ID)
		} else {
			route.Skipped = append(route.Skipped, Skip{Step: ByContent, Owner: o.ID, Role: o.Role})
		}
	}
	if len(route.Marketing) == 0 && a.SignalOwner != "" {
		role, err := r.dir.RoleOf(ctx, a.SignalOwner)
		if err != nil {
			return Route{}, fmt.Errorf("routing %s: %w", a.ID, err)
		}
		if dowser.OwnerFits(dowser.KindSignals, role) {
			route.Marketing = []string{a.SignalOwner}
		} else {
			route.Skipped = append(route.Skipped, Skip{Step: BySignal, Owner: a.SignalOwner, Role: role})
		}
	}
	if recipients := append(route.Recipients(), route.Away...); len(recipients) > 0 {
		managers, err := r.dir.Subscribers(ctx, recipients)
		if err != nil {
			return Route{}, fmt.Errorf("routing %s: %w", a.ID, err)
		}
		route.Managers = managers
	}
	return route, nil
}

// sales finds the alert's sales recipient and the step that found it. An
// owner whose role does not fit (dowser.OwnerFits) is skipped, and routing
// falls through to the next step.
func (r *Router) sales(ctx context.Context, a *schema.Alert) (rep, by, rule string, skipped []Skip, away []string, err error) {
	fits := func(step, owner string, role dowser.Role, kind string) bool {
		if owner == "" {
			return false
		}
		if dowser.OwnerFits(kind, role) {
			return true
		}
		skipped = append(skipped, Skip{Step: step, Owner: owner, Role: role})
		return false
	}
	// present reports whether the owner is in; an owner away is noted.
	present := func(owner string) (bool, error) {
		out, err := r.away(ctx, []string{owner})
		away = append(away, out...)
		return len(out) == 0, err
	}
	accountID := a.AccountID
	if a.CustomerID != "" {
		c, role, err := r.dir.ContactRouting(ctx, a.CustomerID)
		if err != nil {
			return "", "", "", nil, nil, err
		}
		if fits(ByContact, c.OwnerID, role, dowser.KindContacts) {
			if in, err := present(c.OwnerID); err != nil || in {
				return c.OwnerID, ByContact, "", skipped, away, err
			}
		}
		if accountID == "" {
			accountID = c.AccountID
		}
	}
	var acct dowser.Account
	if accountID != "" {
		var role dowser.Role
		if acct, role, err = r.dir.AccountRouting(ctx, accountID); err != nil {
			return "", "", "", nil, nil, err
		}
		if fits(ByAccount, acct.OwnerID, role, dowser.KindAccounts) && !slices.Contains(away, acct.OwnerID) {
			if in, err := present(acct.OwnerID); err != nil || in {
				return acct.OwnerID, ByAccount, "", skipped, away, err
			}
		}
	}
	rules, roles, err := r.dir.RoutingTerritoryRules(ctx)
	if err != nil {
		return "", "", "", nil, nil, err
	}
	var matching []dowser.TerritoryRule
	var candidates []string
	for i, tr := range rules {
		if tr.Matches(acct) && fits(ByTerritory, tr.RepID, roles[i], dowser.KindTerritoryRules) {
			matching, candidates = append(matching, tr), append(candidates, tr.RepID)
		}
	}
	// One question for every matching rule's rep: the first present wins.
	awayReps, err := r.away(ctx, candidates)
	if err != nil {
		return "", "", "", nil, nil, err
	}
	for _, tr := range matching {
		if !slices.Contains(awayReps, tr.RepID) {
			return tr.RepID, ByTerritory, tr.ID, skipped, away, nil
		}
		if !slices.Contains(away, tr.RepID) {
			away = append(away, tr.RepID)
		}
	}
	if len(away) > 0 {
		// Nobody in the territory: the managers of whoever is away.
		managers, err := r.dir.Subscribers(ctx, away)
		if err != nil {
			return "", "", "", nil, nil, err
		}
		if len(managers) > 0 {
			return "", ByManagers, "", skipped, away, nil
		}
	}
	reps, err := r.dir.Reps(ctx)
	if err != nil {
		return "", "", "", nil, nil, err
	}
	if awayReps, err := r.away(ctx, reps); err != nil {
		return "", "", "", nil, nil, err
	} else if len(awayReps) > 0 && len(awayReps) < len(reps) {
		reps = slices.DeleteFunc(slices.Clone(reps), func(id string) bool { return slices.Contains(awayReps, id) })
	}
	if r.presence != nil {
		connected := slices.DeleteFunc(slices.Clone(reps), func(id string) bool { return !r.presence.Connected(id) })
		if len(connected) > 0 {
			reps = connected
		}
	}
	key := a.Subject
	if accountID != "" {
		key = "account:" + accountID
	}
	if rep := Rendezvous(key, reps); rep != "" {
		return rep, ByRoundRobin, "", skipped, away, nil
	}
	return "", ByNobody, "", skipped, away, nil
}

// Rendezvous returns the candidate that ranks highest for key by
// rendezvous (highest random weight) hashing, or "" when there are none.
// The result depends only on key and the set of candidates, not on their
// order.
func Rendezvous(key string, candidates []string) string {
	var best string
	var bestScore uint64
	for _, c := range candidates {
		h := fnv.New64a()
		h.Write([]byte(key))
		h.Write([]byte{0})
		h.Write([]byte(c))
		// fnv's last bytes barely mix into its high bits: finish with a
		// 64-bit mixer so that every candidate's score is uniform.
		score := mix64(h.Sum64())
		if best == "" || score > bestScore || (score == bestScore && c < best) {
			best, bestScore = c, score
		}
	}
	return best
}

// mix64 is the finaliser of MurmurHash3.
func mix64(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb3fe1a85ec53
	x ^= x >> 33
	return x
}
