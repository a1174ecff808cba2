package notify

import (
	"context"

	"github.com/dowserhq/dowser"
)

// Team is what the hub reads to tell a verdict given over the stream to
// the managers who follow its giver, with the reason stored with it. The
// hub uses it when its Actions implement it too; without it, a verdict
// given over the stream is told to nobody.
type Team interface {
	// Followers returns the managers who follow the user.
	Followers(ctx context.Context, userID string) ([]string, error)
	// StoredVerdict returns the user's verdict on the alert as stored.
	StoredVerdict(ctx context.Context, userID, alertID string) (dowser.Verdict, error)
}

// TellVerdict tells the news of a verdict, with its reason and value, to
// every connection on this instance of its giver (their other panels) and
// of the managers given, who follow them. Panels on other instances learn
// it when they next list their alerts. It never blocks.
func (h *Hub) TellVerdict(v dowser.VerdictGiven, managers []string) {
	h.tellVerdict(v, managers, nil)
}

// tellVerdict is TellVerdict to every connection but from, which gave the
// verdict and hears feedback_saved instead.
func (h *Hub) tellVerdict(v dowser.VerdictGiven, managers []string, from *client) {
	b := encode(frame{Op: "verdict", ID: v.AlertID, User: v.UserID, Verdict: v.Verdict, Reason: v.Reason, Value: v.Value})
	h.mu.Lock()
	var cs []*client
	for _, u := range append([]string{v.UserID}, managers...) {
		for _, c := range h.clients[u] {
			if c != from {
				cs = append(cs, c)
			}
		}
	}
	h.mu.Unlock()
	for _, c := range cs {
		c.tell(b)
	}
}

// tellStored tells the verdict the user just gave over the stream on
// connection from, as stored (a verdict repeated without a reason keeps
// the reason given before), when the hub's Actions can read it.
func (h *Hub) tellStored(ctx context.Context, from *client, userID, alertID string) {
	team, ok := h.actions.(Team)
	if !ok {
		return
	}
	v, err := team.StoredVerdict(ctx, userID, alertID)
	if err != nil {
		h.cfg.Logger.Warn("reading a verdict to tell it", "err", err)
		return
	}
	managers, err := team.Followers(ctx, userID)
	if err != nil {
		h.cfg.Logger.Warn("reading a rep's followers to tell a verdict", "err", err)
		// The giver's other panels still hear of it.
	}
	h.tellVerdict(dowser.VerdictGiven{AlertID: alertID, UserID: userID, Verdict: v.Verdict, Reason: v.Reason, Value: v.Value}, managers, from)
}
