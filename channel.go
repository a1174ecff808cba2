package dowser

import (
	"encoding/json"
	"net/mail"
	"net/url"
	"time"
)

// ChannelKind is where a channel sends alerts, besides the panel.
type ChannelKind string

// The kinds of channel.
const (
	// ChannelWebhook posts the alert as signed JSON to a URL.
	ChannelWebhook ChannelKind = "webhook"
	// ChannelSlack posts a Block Kit message to a Slack incoming webhook.
	ChannelSlack ChannelKind = "slack"
	// ChannelTeams posts an Adaptive Card to a Teams incoming webhook.
	ChannelTeams ChannelKind = "teams"
	// ChannelEmail mails the alert to an address.
	ChannelEmail ChannelKind = "email"
	// ChannelCRM writes every alert, and every verdict, to a CRM through
	// an admin's request templates (see CRMTemplate).
	ChannelCRM ChannelKind = "crm"
)

// ChannelKinds returns the kinds a channel may have, in the order the docs
// list them.
func ChannelKinds() []ChannelKind {
	return []ChannelKind{ChannelWebhook, ChannelSlack, ChannelTeams, ChannelEmail, ChannelCRM}
}

// Limits of a channel's values, in bytes.
const (
	MaxChannelTargetLen = 2048
	// MinSecretLen is the shortest webhook secret: HMAC-SHA256 keys
	// shorter than a few words are guessable offline from one signature.
	MinSecretLen = 16
	MaxSecretLen = 512
)

// Channel is one of a user's channels: where their alerts are sent besides
// the panel. Secrets are never read back: Secret and PreviousSecret are
// write-only, and the API shows only whether a rotation is under way.
type Channel struct {
	ID     int64       `json:"id"`
	UserID string      `json:"user_id"`
	Kind   ChannelKind `json:"kind"`
	// Target is the URL (webhook, slack, teams), the address (email) or
	// the CRM's base URL (crm).
	Target  string `json:"target"`
	Enabled bool   `json:"enabled"`
	// Secret signs a webhook's requests; PreviousSecret, while set, signs
	// them too, so that a receiver can switch secrets without a gap.
	Secret         string `json:"-"`
	PreviousSecret string `json:"-"`
	// Rotating is true while PreviousSecret is set.
	Rotating bool `json:"rotating"`
	// PausedAt is set when deliveries kept failing: nothing is sent until
	// the owner changes the channel. PauseReason says what failed last.
	PausedAt    *time.Time `json:"paused_at,omitempty"`
	PauseReason string     `json:"pause_reason,omitempty"`
	// DigestTimes ("09:00", "14:00") are when an e-mail channel mails its
	// user's other (non-urgent) alerts as one digest, in TimeZone (an IANA
	// name such as Europe/Madrid). Empty: only urgent alerts are mailed.
	DigestTimes []string `json:"digest_times,omitempty"`
	TimeZone    string   `json:"time_zone,omitempty"`
	// CRM is a crm channel's request templates; nil for other kinds.
	CRM *CRMTemplate `json:"crm,omitempty"`
	// Unreadable says why the stored CRM templates cannot be read (CRM
	// is then nil): the channel is listed all the same, so that its owner
	// sees it and can set them again or delete it.
	Unreadable string `json:"unreadable,omitempty"`
	// Counts of the channel's deliveries by status.
	Pending int64 `json:"pending"`
	Sent    int64 `json:"sent"`
	Failed  int64 `json:"failed"`
}

// Validate checks the kind, the target (an absolute http or https URL with
// a host, or an e-mail address), for a webhook its secret and for a crm
// channel its templates.
func (c Channel) Validate() error {
	var p Problems
	switch c.Kind {
	case ChannelWebhook, ChannelSlack, ChannelTeams:
		p.Add(checkChannelURL("target", c.Target))
	case ChannelEmail:
		if fe := CheckText("target", c.Target, MaxChannelTargetLen); fe != nil {
			p.Add(fe)
		} else if a, err := mail.ParseAddress(c.Target); err != nil || a.Address != c.Target {
			p.Add(fieldErrorf("target", "%s is not an e-mail address such as rep@example.com", quoteShort(c.Target)))
		}
	case ChannelCRM:
		p.Add(checkChannelURL("target", c.Target))
		p = append(p, c.CRM.Validate("crm")...)
	default:
		p.Add(fieldErrorf("kind", "%s is not one of webhook, slack, teams, email, crm", quoteShort(string(c.Kind))))
	}
	for _, fe := range c.checkDigest() {
		p.Add(fe)
	}
	if c.Kind != ChannelCRM && c.CRM != nil {
		p.Add(fieldErrorf("crm", "only crm channels take request templates; a %s channel takes none", c.Kind))
	}
	switch {
	case c.Kind == ChannelWebhook:
		p.Add(checkSecret("secret", c.Secret, true))
	case c.Kind == ChannelCRM:
		// The CRM's API token, for the headers: {{.Secret}}.
		p.Add(checkSecret("secret", c.Secret, false))
	case c.Secret != "":
		p.Add(fieldErrorf("secret", "only webhook channels are signed; a %s channel takes no secret", c.Kind))
	}
	return p.Err()
}

func checkChannelURL(field, v string) *FieldError {
	if fe := CheckText(field, v, MaxChannelTargetLen); fe != nil {
		return fe
	}
	u, err := url.Parse(v)
	switch {
	case v == "":
		return fieldErrorf(field, "is required")
	case err != nil:
		return fieldErrorf(field, "%s is not a URL", quoteShort(v))
	case u.Scheme != "http" && u.Scheme != "https":
		return fieldErrorf(field, "%s is not an http or https URL", quoteShort(v))
	case u.Host == "":
		return fieldErrorf(field, "%s has no host", quoteShort(v))
	case u.User != nil:
		return fieldErrorf(field, "must not carry a user name or password; put credentials in the path or use the secret")
	}
	return nil
}

// checkSecret never repeats the secret in its reasons.
func checkSecret(field, v string, required bool) *FieldError {
	switch {
	case v == "" && required:
		return fieldErrorf(field, "is required for a webhook (at least %d bytes); it signs every request", MinSecretLen)
	case v == "":
		return nil
	case len(v) < MinSecretLen || len(v) > MaxSecretLen:
		return fieldErrorf(field, "is %d bytes; a secret has %d to %d", len(v), MinSecretLen, MaxSecretLen)
	case CheckText(field, v, MaxSecretLen) != nil:
		return fieldErrorf(field, "must be UTF-8 text without NUL")
	}
	return nil
}

// Status values of a channel delivery.
const (
	DeliveryPending = "pending"
	DeliverySent    = "sent"
	DeliveryFailed  = "failed"
)

// ChannelDelivery is one alert to send to one channel: a row of the
// channel outbox. Its ID is the delivery id the receiver sees on every
// attempt.
type ChannelDelivery struct {
	ID        string `json:"id"`
	AlertID   string `json:"alert_id"`
	UserID    string `json:"user_id"`
	ChannelID int64  `json:"channel_id"`
	Status    string `json:"status"`
	// Attempts counts the attempts begun, the current one included.
	Attempts   int        `json:"attempts"`
	NextAt     time.Time  `json:"next_at"`
	LastError  string     `json:"last_error,omitempty"`
	LastStatus int        `json:"last_status,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	DoneAt     *time.Time `json:"done_at,omitempty"`
	// DigestID is set (AlertID empty) on a digest's delivery: one mail
	// covering several alerts.
	DigestID int64 `json:"digest_id,omitempty"`
	// VerdictUser and VerdictAt are set on a crm channel's delivery of a
	// verdict: whose verdict, given when. An alert's delivery has neither.
	VerdictUser string     `json:"verdict_user,omitempty"`
	VerdictAt   *time.Time `json:"verdict_at,omitempty"`
	// Verdict is set on a claimed verdict delivery: the verdict as given
	// (a CRMVerdict).
	Verdict json.RawMessage `json:"-"`
	// Channel and Alert are set on a claimed delivery, for its sender.
	Channel Channel `json:"-"`
	// Alert is a digest's alerts, as a JSON array, when DigestID is set.
	Alert json.RawMessage `json:"-"`
	// Unreadable, on a claimed delivery, says why its channel's stored
	// settings cannot be read (CRM templates that do not decode): no
	// attempt can send it. Channel then lacks those settings.
	Unreadable string `json:"-"`
}
