package delivery

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dowserhq/dowser"
)

// JourneyReader reads the buyer's journey for the summary that chat
// messages, mails and webhook bodies carry. Its Timeline leaves out
// people and accounts marked do-not-track; erased people are gone from it.
type JourneyReader interface {
	Timeline(ctx context.Context, q dowser.TimelineQuery) (dowser.TimelinePage, error)
}

// Bounds of a journey summary.
const (
	// journeyShown items are listed; up to journeyCounted more are
	// counted ("and N more"), beyond that the count says "N+".
	journeyShown   = 5
	journeyCounted = 95
	// Bytes of an item's talking point, title and person shown: the rest
	// is in the panel, and a Slack section holds 3000 characters.
	maxTalkingPoint = 300
	maxWhat         = 150
	maxWho          = 80
	maxSlackText    = 3000
)

// JourneySummary is the recent journey of an alert's account (or of its
// person, when it has no account): the newest items, newest first, and
// how many more the window holds.
type JourneySummary struct {
	Items []dowser.JourneyItem
	// More is how many further items the window holds; MoreAtLeast says
	// there are more than More (they were not all counted).
	More        int
	MoreAtLeast bool
	// Days is the window, in days back from the send.
	Days int
}

// journeyFor reads the journey summary of del's alert, or nil when there
// is none to show: no reader, no account or person, nothing in the window,
// or a failure to read it, which is logged: the message goes without it.
func (d *Dispatcher) journeyFor(ctx context.Context, del *dowser.ChannelDelivery) *JourneySummary {
	if d.cfg.Journey == nil || del.DigestID != 0 {
		return nil
	}
	var a struct {
		AccountID  string `json:"account_id"`
		CustomerID string `json:"customer_id"`
	}
	if err := json.Unmarshal(del.Alert, &a); err != nil || (a.AccountID == "" && a.CustomerID == "") {
		return nil // an undecodable alert fails in Payload, saying why
	}
	q := dowser.TimelineQuery{AccountID: a.AccountID, Since: time.Now().Add(-d.cfg.JourneyWindow), Limit: journeyShown + journeyCounted}
	if a.AccountID == "" {
		q.CustomerID = a.CustomerID
	}
	// A slow journey must not hold the delivery up.
	ctx, cancel := context.WithTimeout(ctx, d.cfg.JourneyTimeout)
	defer cancel()
	page, err := d.cfg.Journey.Timeline(ctx, q)
	if err != nil {
		d.cfg.Logger.Warn("reading the journey for a delivery: sending it without", "delivery", del.ID, "alert", del.AlertID, "err", err)
		return nil
	}
	if len(page.Items) == 0 {
		return nil
	}
	s := &JourneySummary{Items: page.Items, Days: max(1, int(d.cfg.JourneyWindow/(24*time.Hour)))}
	if len(s.Items) > journeyShown {
		s.More = len(s.Items) - journeyShown
		s.Items = s.Items[:journeyShown]
	}
	s.MoreAtLeast = page.Next != nil
	return s
}

// journeyLine is one item of a summary as chat and mail show it: day and
// time (UTC), what (title, else content id), and who.
type journeyLine struct {
	when, what, who, talkingPoint string
}

func journeyLines(s *JourneySummary) []journeyLine {
	out := make([]journeyLine, 0, len(s.Items))
	for _, it := range s.Items {
		out = append(out, journeyLine{
			when:         it.Time.UTC().Format("Mon 2 Jan 15:04"),
			what:         cut(oneLine(cmpOr(it.Title, it.ContentTitle, it.ContentID, it.URLPath, it.Type)), maxWhat),
			who:          cut(oneLine(cmpOr(it.CustomerID, it.AnonymousID)), maxWho),
			talkingPoint: cut(oneLine(it.TalkingPoint), maxTalkingPoint),
		})
	}
	return out
}

func (l journeyLine) String() string {
	s := l.when + " · " + l.what
	if l.who != "" {
		s += " · " + l.who
	}
	return s
}

// textJourney is a summary's items as plain text, separated by sep, each
// talking point on its own line formatted by tp; then the "and N more"
// line. Mails and Teams cards show it.
func textJourney(s *JourneySummary, panelURL, sep, tp string) string {
	var parts []string
	for _, l := range journeyLines(s) {
		parts = append(parts, l.String())
		if l.talkingPoint != "" {
			parts = append(parts, fmt.Sprintf(tp, l.talkingPoint))
		}
	}
	if more := journeyMore(s, panelURL); more != "" {
		parts = append(parts, more)
	}
	return strings.Join(parts, sep)
}

// slackJourney is a summary as Slack mrkdwn: a bold heading, one line per
// item, its talking point quoted below it.
func slackJourney(s *JourneySummary, panelURL string) string {
	var b strings.Builder
	b.WriteString("*" + journeyHeading(s) + "*")
	for _, l := range journeyLines(s) {
		b.WriteString("\n" + slackEscape(l.String()))
		if l.talkingPoint != "" {
			b.WriteString("\n>Talking point: " + slackEscape(l.talkingPoint))
		}
	}
	if more := journeyMore(s, panelURL); more != "" {
		b.WriteString("\n" + slackEscape(more))
	}
	return cut(b.String(), maxSlackText)
}

// journeyHeading names a summary's window.
func journeyHeading(s *JourneySummary) string {
	if s.Days == 1 {
		return "Journey, last day"
	}
	return fmt.Sprintf("Journey, last %d days", s.Days)
}

// journeyMore is the "and N more" line of a summary, or "".
func journeyMore(s *JourneySummary, panelURL string) string {
	if s.More == 0 {
		return ""
	}
	n := fmt.Sprint(s.More)
	if s.MoreAtLeast {
		n += "+"
	}
	if panelURL == "" {
		return "and " + n + " more in Dowser"
	}
	return "and " + n + " more in Dowser: " + panelURL
}

// cut shortens s to at most n bytes at a character boundary, marking the
// cut with an ellipsis.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return strings.TrimSpace(s[:n]) + "…"
}
