package dowser

import (
	"strings"
	"time"

	"github.com/dowserhq/dowser/schema"
)

// JourneyItem is one thing a person consumed, as the buyer's journey keeps
// it: the event's id, type, time and who, the content it was about, and
// its title and URL path only (never its properties, query string or
// e-mail body). The timeline adds the content item's title and talking
// point when the content is known.
type JourneyItem struct {
	EventID     string    `json:"event_id"`
	Type        string    `json:"type"`
	Time        time.Time `json:"time"`
	AccountID   string    `json:"account_id,omitempty"`
	CustomerID  string    `json:"customer_id,omitempty"`
	AnonymousID string    `json:"anonymous_id,omitempty"`
	ContentID   string    `json:"content_id,omitempty"`
	// Title is the event's title, or an e-mail's subject.
	Title   string `json:"title,omitempty"`
	URLPath string `json:"url_path,omitempty"`
	// ContentTitle and TalkingPoint are the content item's, when
	// ContentID names one.
	ContentTitle string `json:"content_title,omitempty"`
	TalkingPoint string `json:"talking_point,omitempty"`
}

// Bounds of a journey row's text, in bytes: longer values are cut (at a
// character boundary), so that a hostile event cannot make rows large.
const (
	maxJourneyID    = 256
	maxJourneyTitle = 256
	maxJourneyPath  = 512
)

// JourneyItemOf is the journey row of an accepted event: small, with the
// event's title (or e-mail subject) and its URL's path only.
func JourneyItemOf(ev *schema.Event) JourneyItem {
	title := ev.Prop("title")
	if title == "" {
		title = ev.Prop("subject")
	}
	return JourneyItem{
		EventID: cut(ev.ID, maxJourneyID), Type: cut(ev.Type, maxJourneyID), Time: ev.Time,
		AccountID: cut(ev.Customer.AccountID, maxJourneyID), CustomerID: cut(ev.Customer.ID, maxJourneyID),
		AnonymousID: cut(ev.Customer.AnonymousID, maxJourneyID), ContentID: cut(ev.ContentID, maxJourneyID),
		Title: cut(title, maxJourneyTitle), URLPath: cut(urlPath(ev.Prop("url")), maxJourneyPath),
	}
}

// urlPath is the path of a URL, without scheme, host (and user info),
// query string or fragment; "" when it has no path. It slices the string
// rather than parse it: it runs for every accepted event.
func urlPath(raw string) string {
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i]
	}
	if i := strings.Index(raw, "://"); i >= 0 {
		rest := raw[i+3:]
		j := strings.IndexByte(rest, '/')
		if j < 0 {
			return ""
		}
		return rest[j:]
	}
	if strings.HasPrefix(raw, "//") {
		return urlPath("x:" + raw)
	}
	if strings.HasPrefix(raw, "/") {
		return raw
	}
	return ""
}

// cut shortens s to at most n bytes without splitting a character.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// TimelineQuery selects a page of a journey: an account's or a person's
// items since Since, newest first, at most Limit, after the cursor.
type TimelineQuery struct {
	AccountID  string // one of AccountID and CustomerID
	CustomerID string
	Since      time.Time
	Limit      int
	After      *TimelineCursor
}

// TimelineCursor is where a page of a timeline ended.
type TimelineCursor struct {
	Time    time.Time
	EventID string
}

// TimelinePage is a page of a timeline; Next is nil on the last.
type TimelinePage struct {
	Items []JourneyItem
	Next  *TimelineCursor
}
