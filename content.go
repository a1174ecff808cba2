package dowser

import "time"

// Content is a piece of marketing content (a page, a webinar, a paper) and
// the marketer who owns it.
type Content struct {
	ID        string `json:"id"`
	Title     string `json:"title"`
	URLPrefix string `json:"url_prefix"`
	OwnerID   string `json:"owner"`
	// TalkingPoint is the marketer's hint to a rep whose buyer consumed
	// the item ("if they read this, ask about X"), shown with it in the
	// journey; empty shows none.
	TalkingPoint string `json:"talking_point"`
}

// Validate checks every field of the content item; a [Problems] names
// every field refused. That the owner is a user who may own it is the
// caller's to check ([CheckOwner]).
func (c Content) Validate() error {
	return checkFields(KindContent, "id", c.ID, "title", c.Title, "url_prefix", c.URLPrefix, "owner", c.OwnerID, "talking_point", c.TalkingPoint).Err()
}

// ContentImpact is what saving a content item would change: whose
// marketing alerts, among the recent ones, would go to someone else.
type ContentImpact struct {
	ContentID string `json:"content_id"`
	// AlertsExamined is how many of the most recent alerts were routed
	// again, with and without the change.
	AlertsExamined int `json:"alerts_examined"`
	// Rerouted is how many of them would change marketing recipients.
	Rerouted int `json:"rerouted"`
	// Alerts are the first of those, newest first.
	Alerts []ReroutedAlert `json:"alerts"`
	// Gain are the users who would receive alerts they do not now; Lose
	// those who would no longer receive some.
	Gain []string `json:"gain"`
	Lose []string `json:"lose"`
}

// ReroutedAlert is one recent alert whose marketing recipients a change
// would alter.
type ReroutedAlert struct {
	ID        string    `json:"id"`
	SignalID  string    `json:"signal_id"`
	AccountID string    `json:"account_id"`
	Time      time.Time `json:"time"`
	Before    []string  `json:"before"`
	After     []string  `json:"after"`
}
