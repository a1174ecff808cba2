package links_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/links"
)

var (
	key    = []byte("link-key-0123456789abcdef0123456789")
	newKey = []byte("link-key-fedcba9876543210fedcba9876")
)

func signer(t *testing.T, now time.Time, key []byte, previous ...[]byte) *links.Signer {
	t.Helper()
	s, err := links.New(links.Config{Key: key, PreviousKeys: previous, TTL: time.Hour, BaseURL: "https://dowser.example.com", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLinksCheckOnlyWhatWasSignedUntilItExpires(t *testing.T) {
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	s := signer(t, now, key)
	u, err := s.URL(dowser.LinkAck, "al-1", "rep-ana")
	if err != nil {
		t.Fatal(err)
	}
	p, err := url.Parse(u)
	if err != nil || p.Host != "dowser.example.com" || !strings.HasPrefix(p.Path, "/"+links.Path) {
		t.Fatalf("URL %q: want https://dowser.example.com/%s<token>", u, links.Path)
	}
	token := strings.TrimPrefix(p.Path, "/"+links.Path)
	l, err := s.Check(token)
	if err != nil || l.Action != dowser.LinkAck || l.AlertID != "al-1" || l.UserID != "rep-ana" || l.Nonce == "" || !l.Expires.Equal(now.Add(time.Hour)) {
		t.Fatalf("Check = %+v, %v; want ack of al-1 for rep-ana, expiring in an hour, with a nonce", l, err)
	}
	again, _ := s.Token(dowser.LinkAck, "al-1", "rep-ana")
	if again == token {
		t.Errorf("two links of the same action share a token: no fresh nonce")
	}

	payload, sig, _ := strings.Cut(token, ".")
	other, _ := signer(t, now, newKey).Token(dowser.LinkAck, "al-1", "rep-ana")
	_, otherSig, _ := strings.Cut(other, ".")
	// A payload naming someone else's alert, or another action, under
	// the original signature.
	forgedPayload := strings.Replace(payload, payload[len(payload)-4:], "AAAA", 1)
	for name, tok := range map[string]string{
		"changed payload":      forgedPayload + "." + sig,
		"another key's sig":    payload + "." + otherSig,
		"no signature":         payload,
		"empty":                "",
		"truncated signature":  payload + "." + sig[:10],
		"signature of nothing": "." + sig,
	} {
		if _, err := s.Check(tok); !errors.Is(err, dowser.ErrLinkForged) {
			t.Errorf("%s: Check = %v, want ErrLinkForged", name, err)
		}
	}

	later := signer(t, now.Add(time.Hour), key)
	if _, err := later.Check(token); !errors.Is(err, dowser.ErrLinkExpired) {
		t.Errorf("Check at expiry = %v, want ErrLinkExpired", err)
	}
}

func TestLinkKeyRotationAcceptsThePreviousKey(t *testing.T) {
	now := time.Now()
	old, _ := signer(t, now, key).Token(dowser.LinkSnooze, "al-1", "rep-ana")
	rotated := signer(t, now, newKey, key)
	if _, err := rotated.Check(old); err != nil {
		t.Errorf("a link of the previous key during the rotation: %v, want accepted", err)
	}
	fresh, _ := rotated.Token(dowser.LinkSnooze, "al-1", "rep-ana")
	if _, err := signer(t, now, newKey).Check(fresh); err != nil {
		t.Errorf("a link signed after the rotation by the new key: %v", err)
	}
	if _, err := signer(t, now, newKey).Check(old); !errors.Is(err, dowser.ErrLinkForged) {
		t.Errorf("a link of a retired key: %v, want ErrLinkForged", err)
	}
}

func TestLinkConfigRefusals(t *testing.T) {
	for name, cfg := range map[string]links.Config{
		"short key":          {Key: []byte("short"), BaseURL: "https://x/"},
		"short previous key": {Key: key, PreviousKeys: [][]byte{[]byte("short")}, BaseURL: "https://x/"},
		"no base URL":        {Key: key},
	} {
		if _, err := links.New(cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
}
