// Package links signs and checks Dowser's one-click links: URLs in chat
// messages and mails that acknowledge, snooze or judge an alert without
// logging in. A link is an HMAC-SHA256 signature, keyed by a server
// secret, over what it does (action, alert, user), its expiry and a random
// nonce; the store records the nonce when the link is used, so a link acts
// once. Checking a link here has no side effect.
//
// It imports only: dowser.
package links

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dowserhq/dowser"
)

// MinKeyLen is the shortest signing key, in bytes.
const MinKeyLen = 32

// Path is where links point, below the public URL; the token follows.
const Path = "v1/links/"

// maxTokenLen bounds a token read from a URL before it is decoded.
const maxTokenLen = 2048

// Config configures a Signer.
type Config struct {
	// Key signs new links; at least MinKeyLen bytes.
	Key []byte
	// PreviousKeys are still accepted (a rotation): links signed with
	// them work until they expire, or until the key is dropped here.
	PreviousKeys [][]byte
	// TTL is how long a new link works: 7 days when 0.
	TTL time.Duration
	// BaseURL is the public URL of the panel, e.g.
	// https://dowser.example.com/; links are BaseURL + Path + token.
	BaseURL string
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Signer makes and checks one-click links. It is safe for concurrent use.
type Signer struct {
	cfg Config
}

// CheckKey says what is wrong with a signing key, or nil.
func CheckKey(key []byte) error {
	if len(key) < MinKeyLen {
		return fmt.Errorf("is %d bytes; a link key has at least %d (e.g. openssl rand -hex 32)", len(key), MinKeyLen)
	}
	return nil
}

// New returns a signer of cfg; it refuses a short key or base URL-less
// configuration.
func New(cfg Config) (*Signer, error) {
	if err := CheckKey(cfg.Key); err != nil {
		return nil, fmt.Errorf("link key %w", err)
	}
	for i, k := range cfg.PreviousKeys {
		if err := CheckKey(k); err != nil {
			return nil, fmt.Errorf("previous link key %d %w", i+1, err)
		}
	}
	if cfg.BaseURL == "" {
		return nil, errors.New("links need the public URL (--public-url) to point at")
	}
	if !strings.HasSuffix(cfg.BaseURL, "/") {
		cfg.BaseURL += "/"
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 7 * 24 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Signer{cfg: cfg}, nil
}

// claims is the signed part of a token, short keys to keep URLs short.
type claims struct {
	Action  dowser.LinkAction `json:"a"`
	AlertID string            `json:"al"`
	UserID  string            `json:"u"`
	Expires int64             `json:"e"`
	Nonce   string            `json:"n"`
}

var enc = base64.RawURLEncoding

// Token returns a new token of action on alertID for userID, expiring
// after the TTL, with a fresh nonce.
func (s *Signer) Token(action dowser.LinkAction, alertID, userID string) (string, error) {
	n := make([]byte, 16)
	if _, err := rand.Read(n); err != nil {
		return "", fmt.Errorf("drawing a link nonce: %w", err)
	}
	c := claims{Action: action, AlertID: alertID, UserID: userID, Expires: s.cfg.Now().Add(s.cfg.TTL).Unix(), Nonce: enc.EncodeToString(n)}
	b, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("encoding a link: %w", err)
	}
	payload := enc.EncodeToString(b)
	return payload + "." + enc.EncodeToString(mac(s.cfg.Key, payload)), nil
}

// URL is Token as the absolute URL of the link.
func (s *Signer) URL(action dowser.LinkAction, alertID, userID string) (string, error) {
	t, err := s.Token(action, alertID, userID)
	if err != nil {
		return "", err
	}
	return s.cfg.BaseURL + Path + t, nil
}

// Check returns what token says when a key of the signer signed it and it
// has not expired: dowser.ErrLinkForged or dowser.ErrLinkExpired
// otherwise. Whether it was used already is the store's to say.
func (s *Signer) Check(token string) (dowser.Link, error) {
	payload, sig, ok := strings.Cut(token, ".")
	if !ok || len(token) > maxTokenLen {
		return dowser.Link{}, dowser.ErrLinkForged
	}
	got, err := enc.DecodeString(sig)
	if err != nil {
		return dowser.Link{}, dowser.ErrLinkForged
	}
	valid := false
	for _, k := range append([][]byte{s.cfg.Key}, s.cfg.PreviousKeys...) {
		// Every key is tried, so the time taken says nothing of which.
		if hmac.Equal(got, mac(k, payload)) {
			valid = true
		}
	}
	if !valid {
		return dowser.Link{}, dowser.ErrLinkForged
	}
	b, err := enc.DecodeString(payload)
	if err != nil {
		return dowser.Link{}, dowser.ErrLinkForged
	}
	var c claims
	if err := json.Unmarshal(b, &c); err != nil || c.Nonce == "" || c.AlertID == "" || c.UserID == "" {
		return dowser.Link{}, dowser.ErrLinkForged
	}
	l := dowser.Link{Action: c.Action, AlertID: c.AlertID, UserID: c.UserID, Expires: time.Unix(c.Expires, 0), Nonce: c.Nonce}
	known := false
	for _, a := range dowser.LinkActions() {
		known = known || a == l.Action
	}
	if !known {
		return dowser.Link{}, dowser.ErrLinkForged
	}
	if !s.cfg.Now().Before(l.Expires) {
		return l, fmt.Errorf("%w at %s", dowser.ErrLinkExpired, l.Expires.UTC().Format("2006-01-02 15:04 UTC"))
	}
	return l, nil
}

// mac is the signature of a token's payload; the prefix keeps a link key
// from signing anything but links.
func mac(key []byte, payload string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("dowser-link-v1."))
	m.Write([]byte(payload))
	return m.Sum(nil)
}
