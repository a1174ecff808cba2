package delivery

import (
	"fmt"

	"github.com/dowserhq/dowser"
)

// Linker makes signed one-click links (package links) that act on an
// alert for its recipient without a login.
type Linker interface {
	URL(action dowser.LinkAction, alertID, userID string) (string, error)
}

// Link is a one-click link as a message shows it.
type Link struct {
	Action dowser.LinkAction
	URL    string
}

// linksFor returns the one-click links of an alert for its recipient, one
// per action, or none when links are off. Each attempt gets fresh links:
// each has its own nonce and acts once.
func (d *Dispatcher) linksFor(alertID, userID string) ([]Link, error) {
	if d.cfg.Links == nil || alertID == "" {
		return nil, nil
	}
	var out []Link
	for _, a := range dowser.LinkActions() {
		u, err := d.cfg.Links.URL(a, alertID, userID)
		if err != nil {
			return nil, fmt.Errorf("making the %s link of %s: %w", a, alertID, err)
		}
		out = append(out, Link{Action: a, URL: u})
	}
	return out, nil
}
