package delivery

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/schema"
)

// Webhook is the body of a webhook delivery: the same bytes on every
// attempt of one delivery.
type Webhook struct {
	// Type is "alert".
	Type       string `json:"type"`
	DeliveryID string `json:"delivery_id"`
	ChannelID  int64  `json:"channel_id"`
	// UserID is the recipient whose channel this is.
	UserID string `json:"user_id"`
	// Alert is the alert as stored: ids, the signal's id and name, the
	// subject, customer and account, priority, message and evidence.
	Alert json.RawMessage `json:"alert"`
	// PanelURL is where the recipient sees the alert, when configured.
	PanelURL string `json:"panel_url,omitempty"`
	// Journey is the recent journey of the alert's account (or person),
	// newest first, at most five items; JourneyMore counts the further
	// items of the window (at least that many with JourneyMoreAtLeast).
	// Both are left out when the journey is off, empty or unreadable.
	Journey            []dowser.JourneyItem `json:"journey,omitempty"`
	JourneyMore        int                  `json:"journey_more,omitempty"`
	JourneyMoreAtLeast bool                 `json:"journey_more_at_least,omitempty"`
}

// Payload returns the request body of del for its channel's kind; chat
// messages carry links as buttons. j, when not nil, is the journey
// summary the message carries; without it chat messages show the alert's
// evidence.
func Payload(del *dowser.ChannelDelivery, panelURL string, j *JourneySummary, links ...Link) ([]byte, error) {
	switch del.Channel.Kind {
	case dowser.ChannelWebhook:
		w := Webhook{Type: "alert", DeliveryID: del.ID, ChannelID: del.ChannelID, UserID: del.UserID, Alert: del.Alert, PanelURL: panelURL}
		if j != nil {
			w.Journey, w.JourneyMore, w.JourneyMoreAtLeast = j.Items, j.More, j.MoreAtLeast
		}
		return json.Marshal(w)
	case dowser.ChannelSlack, dowser.ChannelTeams:
		var a schema.Alert
		if err := json.Unmarshal(del.Alert, &a); err != nil {
			return nil, fmt.Errorf("decoding alert %s: %w", del.AlertID, err)
		}
		if del.Channel.Kind == dowser.ChannelSlack {
			return json.Marshal(slackMessage(&a, panelURL, j, links))
		}
		return json.Marshal(teamsMessage(&a, panelURL, j, links))
	}
	return nil, fmt.Errorf("channel kind %q is not one Dowser sends to", del.Channel.Kind)
}

// facts are the labelled values a chat message shows, in order.
func facts(a *schema.Alert) [][2]string {
	out := [][2]string{{"Priority", a.Priority}, {"Signal", cmpOr(a.SignalName, a.SignalID)}}
	if a.AccountID != "" {
		out = append(out, [2]string{"Account", a.AccountID})
	}
	if a.CustomerID != "" {
		out = append(out, [2]string{"Customer", a.CustomerID})
	}
	out = append(out, [2]string{"When", a.Time.UTC().Format("2006-01-02 15:04 UTC")})
	if n := len(a.Escalations); n > 0 {
		out = append(out, [2]string{"Escalated", escalationFact(a.Escalations[n-1])})
	}
	return out
}

// journey summarises the alert's evidence, newest last, at most five.
func journey(a *schema.Alert) []string {
	ev := a.Evidence
	if len(ev) > 5 {
		ev = ev[len(ev)-5:]
	}
	out := make([]string, 0, len(ev))
	for _, e := range ev {
		what := cmpOr(e.Title, e.Subject, e.URL, e.ContentID)
		line := e.Time.UTC().Format("15:04") + " " + e.Type
		if what != "" {
			line += ": " + what
		}
		out = append(out, line)
	}
	return out
}

func title(a *schema.Alert) string {
	return fmt.Sprintf("[%s] %s", strings.ToUpper(a.Priority), cmpOr(a.SignalName, a.SignalID))
}

func cmpOr(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// slackEscape escapes the three characters Slack's mrkdwn reserves.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

type obj = map[string]any

// slackMessage is a Block Kit message for a Slack incoming webhook.
func slackMessage(a *schema.Alert, panelURL string, j *JourneySummary, links []Link) obj {
	var fields []obj
	for _, f := range facts(a) {
		fields = append(fields, obj{"type": "mrkdwn", "text": "*" + f[0] + "*\n" + slackEscape(f[1])})
	}
	blocks := []obj{
		{"type": "header", "text": obj{"type": "plain_text", "text": title(a)}},
		{"type": "section", "text": obj{"type": "mrkdwn", "text": slackEscape(a.Message)}, "fields": fields},
	}
	if j != nil {
		blocks = append(blocks, obj{"type": "section", "text": obj{"type": "mrkdwn", "text": slackJourney(j, panelURL)}})
	} else if ev := journey(a); len(ev) > 0 {
		blocks = append(blocks, obj{"type": "context", "elements": []obj{{"type": "mrkdwn", "text": slackEscape(strings.Join(ev, "\n"))}}})
	}
	var buttons []obj
	if panelURL != "" {
		buttons = append(buttons, obj{"type": "button", "text": obj{"type": "plain_text", "text": "Open in Dowser"}, "url": panelURL, "action_id": "open-" + a.ID})
	}
	for _, l := range links {
		buttons = append(buttons, obj{"type": "button", "text": obj{"type": "plain_text", "text": l.Action.Label()}, "url": l.URL, "action_id": string(l.Action) + "-" + a.ID})
	}
	if len(buttons) > 0 {
		blocks = append(blocks, obj{"type": "actions", "elements": buttons})
	}
	return obj{"text": title(a) + ": " + a.Message, "blocks": blocks}
}

// teamsMessage is a message with an Adaptive Card for a Teams incoming
// webhook (or a Workflows "post to a channel when a webhook request is
// received" flow, which takes the same shape).
func teamsMessage(a *schema.Alert, panelURL string, j *JourneySummary, links []Link) obj {
	var fs []obj
	for _, f := range facts(a) {
		fs = append(fs, obj{"title": f[0], "value": f[1]})
	}
	body := []obj{
		{"type": "TextBlock", "size": "Medium", "weight": "Bolder", "text": title(a), "wrap": true},
		{"type": "TextBlock", "text": a.Message, "wrap": true},
		{"type": "FactSet", "facts": fs},
	}
	if j != nil {
		body = append(body,
			obj{"type": "TextBlock", "text": journeyHeading(j), "weight": "Bolder", "wrap": true, "spacing": "Medium"},
			obj{"type": "TextBlock", "text": textJourney(j, panelURL, "\n\n", "_Talking point: %s_"), "wrap": true, "size": "Small"})
	} else if ev := journey(a); len(ev) > 0 {
		body = append(body, obj{"type": "TextBlock", "text": strings.Join(ev, "\n\n"), "wrap": true, "isSubtle": true, "size": "Small"})
	}
	card := obj{"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard", "version": "1.4", "body": body}
	var actions []obj
	if panelURL != "" {
		actions = append(actions, obj{"type": "Action.OpenUrl", "id": "open-" + a.ID, "title": "Open in Dowser", "url": panelURL})
	}
	for _, l := range links {
		actions = append(actions, obj{"type": "Action.OpenUrl", "id": string(l.Action) + "-" + a.ID, "title": l.Action.Label(), "url": l.URL})
	}
	if len(actions) > 0 {
		card["actions"] = actions
	}
	return obj{"type": "message", "attachments": []obj{{"contentType": "application/vnd.microsoft.card.adaptive", "content": card}}}
}
