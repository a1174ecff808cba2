package notify

import (
	"context"

	"github.com/dowserhq/dowser"
)

// Team is what the hub reads to tell a verdict to the managers who follow
// its giver. The hub uses it when its Actions implement it too; without
// it, a verdict is told to its giver's panels only.
type Team interface {
	// Followers returns the managers who follow the user.
	Followers(ctx context.Context, userID string) ([]string, error)
}

// TellVerdict tells the news of a verdict, as stored (or of an
// acknowledgement, v.Acked, as an "acknowledged" frame), to every connection
// on this instance of its giver (their other panels) but the one named
// v.From, which gave it and heard its answer, and of the managers who
// follow them. [VerdictNews] calls it for every verdict given on any
// instance. It reads the followers only while some connection is open,
// and never waits for a connection.
func (h *Hub) TellVerdict(ctx context.Context, v dowser.VerdictGiven) {
	h.mu.Lock()
	none := len(h.clients) == 0
	h.mu.Unlock()
	if none {
		return
	}
	var managers []string
	if team, ok := h.actions.(Team); ok {
		var err error
		if managers, err = team.Followers(ctx, v.UserID); err != nil {
			// The giver's other panels still hear of it.
			h.cfg.Logger.Warn("reading a rep's followers to tell a verdict", "err", err)
		}
	}
	b := encode(frame{Op: "verdict", ID: v.AlertID, User: v.UserID, Verdict: v.Verdict, Reason: v.Reason, Value: v.Value})
	if v.Acked {
		b = encode(frame{Op: "acknowledged", ID: v.AlertID, User: v.UserID})
	}
	h.mu.Lock()
	var cs []*client
	for _, u := range append([]string{v.UserID}, managers...) {
		for _, c := range h.clients[u] {
			if v.From == "" || c.name != v.From {
				cs = append(cs, c)
			}
		}
	}
	h.mu.Unlock()
	for _, c := range cs {
		c.tell(b)
	}
}
