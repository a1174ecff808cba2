package dowser

import (
	"errors"
	"time"
)

// LinkAction is what a one-click link does to the alert it names.
type LinkAction string

// The actions of one-click links.
const (
	// LinkAck acknowledges the alert.
	LinkAck LinkAction = "ack"
	// LinkSnooze puts the alert away for [LinkSnoozeFor].
	LinkSnooze LinkAction = "snooze"
	// LinkUseful and LinkNotUseful give the verdict of that name.
	LinkUseful    LinkAction = "useful"
	LinkNotUseful LinkAction = "not_useful"
)

// LinkSnoozeFor is how long a snooze link puts an alert away.
const LinkSnoozeFor = 4 * time.Hour

// LinkActions returns the actions a link may carry, in the order messages
// show them.
func LinkActions() []LinkAction {
	return []LinkAction{LinkAck, LinkSnooze, LinkUseful, LinkNotUseful}
}

// Label is how a message or page names the action.
func (a LinkAction) Label() string {
	switch a {
	case LinkAck:
		return "Acknowledge"
	case LinkSnooze:
		return "Snooze 4 h"
	case LinkUseful:
		return "Useful"
	case LinkNotUseful:
		return "Not useful"
	}
	return string(a)
}

// Link is what a signed one-click link says: who may do what to which
// alert, until when. Nonce makes each link single-use: the store records
// it when the link is used.
type Link struct {
	Action  LinkAction
	AlertID string
	UserID  string
	Expires time.Time
	Nonce   string
}

// Errors of a one-click link that is refused.
var (
	// ErrLinkForged: the link's signature matches no key, or the link is
	// malformed.
	ErrLinkForged = errors.New("the link is not one Dowser signed")
	// ErrLinkExpired: the link's expiry has passed.
	ErrLinkExpired = errors.New("the link has expired")
	// ErrLinkUsed: the link was used already.
	ErrLinkUsed = errors.New("the link was used already")
)
