package delivery_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/delivery"
)

// fakeLinker makes recognisable links.
type fakeLinker struct{}

func (fakeLinker) URL(a dowser.LinkAction, alertID, userID string) (string, error) {
	return "https://dowser.example.com/v1/links/" + string(a) + "." + alertID + "." + userID, nil
}

// TestChatMessagesCarryOneClickLinks sends an alert to a Slack and a Teams
// receiver and finds one button per action, each the recipient's link.
func TestChatMessagesCarryOneClickLinks(t *testing.T) {
	var mu sync.Mutex
	bodies := map[string][]byte{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies[r.URL.Path] = b
		mu.Unlock()
	}))
	defer srv.Close()
	alert := json.RawMessage(`{"id":"al-1","priority":"high","message":"Acme: pricing","signal_name":"Pricing"}`)
	chat := func(id string, kind dowser.ChannelKind) dowser.ChannelDelivery {
		return dowser.ChannelDelivery{ID: id, AlertID: "al-1", UserID: "rep-ana", ChannelID: 1, CreatedAt: time.Now(),
			Channel: dowser.Channel{Kind: kind, Target: srv.URL + "/" + string(kind)}, Alert: alert}
	}
	store := &fakeStore{due: []dowser.ChannelDelivery{chat("d-s", dowser.ChannelSlack), chat("d-t", dowser.ChannelTeams)}}
	d, err := delivery.New(delivery.Config{Store: store, Links: fakeLinker{}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Round(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"slack", "teams"} {
		body := string(bodies["/"+kind])
		for _, a := range dowser.LinkActions() {
			want := `"https://dowser.example.com/v1/links/` + string(a) + `.al-1.rep-ana"`
			if !strings.Contains(body, want) || !strings.Contains(body, a.Label()) {
				t.Errorf("%s message lacks the %s link %s labelled %q:\n%s", kind, a, want, a.Label(), body)
			}
		}
	}
}
