package delivery_test

import (
	"context"
	"encoding/json"
	"errors"
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

func TestSignatureVerifies(t *testing.T) {
	body := []byte(`{"type":"alert","delivery_id":"d1"}`)
	now := time.Unix(1_800_000_000, 0)
	header := delivery.Sign(now, body, "new-secret-0123456789", "old-secret-0123456789")
	if got := strings.Count(header, "v1="); got != 2 {
		t.Fatalf("header %q has %d v1 signatures, want one per secret (2)", header, got)
	}
	for _, tc := range []struct {
		name   string
		body   []byte
		secret string
		at     time.Time
		want   error
	}{
		{"new secret", body, "new-secret-0123456789", now, nil},
		{"old secret during rotation", body, "old-secret-0123456789", now.Add(time.Minute), nil},
		{"other secret", body, "another-secret-012345", now, delivery.ErrBadSignature},
		{"body changed", append([]byte(" "), body...), "new-secret-0123456789", now, delivery.ErrBadSignature},
		{"replayed later", body, "new-secret-0123456789", now.Add(6 * time.Minute), delivery.ErrStaleSignature},
		{"from the future", body, "new-secret-0123456789", now.Add(-6 * time.Minute), delivery.ErrStaleSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := delivery.Verify(header, tc.body, tc.secret, tc.at, 5*time.Minute)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Errorf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
	// The timestamp is part of what is signed: moving it breaks the
	// signature.
	forged := strings.Replace(header, "t=1800000000", "t=1800000100", 1)
	if err := delivery.Verify(forged, body, "new-secret-0123456789", now.Add(100*time.Second), 5*time.Minute); !errors.Is(err, delivery.ErrBadSignature) {
		t.Errorf("Verify with a moved timestamp = %v, want ErrBadSignature", err)
	}
}

// TestSignatureMatchesTheDocumentedRecipe pins the signature to a value
// computed independently (printf '%s' "1800000000.{}" | openssl dgst
// -sha256 -hmac secret-0123456789abcdef), so that a receiver following
// docs/delivery.md agrees with Dowser.
func TestSignatureMatchesTheDocumentedRecipe(t *testing.T) {
	got := delivery.Sign(time.Unix(1_800_000_000, 0), []byte("{}"), "secret-0123456789abcdef")
	want := "t=1800000000,v1=" + knownHMAC
	if got != want {
		t.Errorf("Sign = %q, want %q", got, want)
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		status int
		err    error
		want   delivery.Outcome
	}{
		{200, nil, delivery.Sent},
		{204, nil, delivery.Sent},
		{500, nil, delivery.Retry},
		{502, nil, delivery.Retry},
		{503, nil, delivery.Retry},
		{408, nil, delivery.Retry},
		{429, nil, delivery.Retry},
		{400, nil, delivery.Permanent},
		{401, nil, delivery.Permanent},
		{404, nil, delivery.Permanent},
		{410, nil, delivery.Permanent},
		{301, nil, delivery.Permanent},
		{0, context.DeadlineExceeded, delivery.Retry},
		{0, errors.New("connection refused"), delivery.Retry},
	} {
		if got := delivery.Classify(tc.status, tc.err); got != tc.want {
			t.Errorf("Classify(%d, %v) = %d, want %d", tc.status, tc.err, got, tc.want)
		}
	}
}

func TestBackoffGrowsWithJitterUpToTheCap(t *testing.T) {
	d, err := delivery.New(delivery.Config{Store: &fakeStore{}, InitialInterval: time.Second, MaxInterval: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for attempt, base := range map[int]float64{1: 1, 2: 2, 3: 4, 4: 8, 5: 16, 6: 20, 9: 20} {
		seen := map[time.Duration]bool{}
		for range 50 {
			w := d.Backoff(attempt)
			if lo, hi := time.Duration(base*0.5*float64(time.Second)), time.Duration(base*1.5*float64(time.Second)); w < lo || w > hi {
				t.Fatalf("Backoff(%d) = %v, want within [%v, %v]", attempt, w, lo, hi)
			}
			seen[w] = true
		}
		if len(seen) < 10 {
			t.Errorf("Backoff(%d) took %d distinct values in 50 draws: no jitter", attempt, len(seen))
		}
	}
}

// fakeStore is an in-memory channel outbox.
type fakeStore struct {
	mu      sync.Mutex
	due     []dowser.ChannelDelivery
	outcome map[string]string
	next    map[string]time.Time
	paused  bool
}

func (s *fakeStore) ClaimDeliveries(_ context.Context, limit int, _ time.Duration) ([]dowser.ChannelDelivery, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := min(limit, len(s.due))
	out := s.due[:n]
	s.due = s.due[n:]
	for i := range out {
		out[i].Attempts++
	}
	return out, nil
}

func (s *fakeStore) mark(id, what string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.outcome == nil {
		s.outcome = map[string]string{}
	}
	s.outcome[id] = what
}

func (s *fakeStore) MarkSent(_ context.Context, id string, _, _ int) error {
	s.mark(id, "sent")
	return nil
}

func (s *fakeStore) MarkRetry(_ context.Context, id string, _, status int, reason string, next time.Time) error {
	s.mark(id, "retry "+reason)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.next == nil {
		s.next = map[string]time.Time{}
	}
	s.next[id] = next
	return nil
}

func (s *fakeStore) MarkFailed(_ context.Context, id string, _, status int, reason string, _ int) (bool, error) {
	s.mark(id, "failed "+reason)
	return s.paused, nil
}

func TestDispatcherSendsSignedRequestsAndClassifiesAnswers(t *testing.T) {
	const secret = "receiver-secret-0123456789"
	var mu sync.Mutex
	seen := map[string]http.Header{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		id := r.Header.Get(delivery.HeaderDeliveryID)
		mu.Lock()
		seen[id] = r.Header.Clone()
		mu.Unlock()
		if err := delivery.Verify(r.Header.Get(delivery.HeaderSignature), body, secret, time.Now(), time.Minute); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var wh delivery.Webhook
		if err := json.Unmarshal(body, &wh); err != nil || wh.DeliveryID != id {
			http.Error(w, "body does not name the delivery", http.StatusUnprocessableEntity)
			return
		}
		switch r.URL.Path {
		case "/ok":
		case "/busy":
			w.Header().Set("Retry-After", "30")
			w.WriteHeader(http.StatusServiceUnavailable)
		case "/gone":
			w.WriteHeader(http.StatusGone)
		}
	}))
	defer srv.Close()
	webhook := func(id, path, secret string) dowser.ChannelDelivery {
		return dowser.ChannelDelivery{ID: id, AlertID: "al-1", UserID: "rep-ana", ChannelID: 1, CreatedAt: time.Now(),
			Channel: dowser.Channel{Kind: dowser.ChannelWebhook, Target: srv.URL + path, Secret: secret}, Alert: json.RawMessage(`{"id":"al-1"}`)}
	}
	store := &fakeStore{due: []dowser.ChannelDelivery{
		webhook("d-ok", "/ok", secret), webhook("d-busy", "/busy", secret), webhook("d-gone", "/gone", secret),
		webhook("d-forged", "/ok", "someone-elses-secret-0123"),
	}, paused: true}
	d, err := delivery.New(delivery.Config{Store: store, InitialInterval: time.Second, MaxInterval: time.Minute, MaxAttempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	if n, err := d.Round(context.Background()); err != nil || n != 4 {
		t.Fatalf("Round = %d, %v; want 4 claimed, no error", n, err)
	}
	want := map[string]string{"d-ok": "sent", "d-busy": "retry HTTP 503 Service Unavailable", "d-gone": "failed HTTP 410 Gone", "d-forged": "failed HTTP 401 Unauthorized"}
	for id, w := range want {
		if got := store.outcome[id]; got != w {
			t.Errorf("delivery %s: %q, want %q", id, got, w)
		}
		if h := seen[id]; h.Get(delivery.HeaderAttempt) != "1" {
			t.Errorf("delivery %s: %s %q, want 1", id, delivery.HeaderAttempt, h.Get(delivery.HeaderAttempt))
		}
	}
	// Retry-After (30 s) beats the first backoff (about 1 s).
	if next := store.next["d-busy"]; next.Before(before.Add(30 * time.Second)) {
		t.Errorf("retry of d-busy due at %v, want at least 30 s after %v (Retry-After)", next, before)
	}
}

func TestDispatcherGivesUpAfterTheLastAttempt(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer srv.Close()
	del := dowser.ChannelDelivery{ID: "d1", ChannelID: 1, Attempts: 2, CreatedAt: time.Now(),
		Channel: dowser.Channel{Kind: dowser.ChannelSlack, Target: srv.URL}, Alert: json.RawMessage(`{"id":"al-1","priority":"high"}`)}
	store := &fakeStore{due: []dowser.ChannelDelivery{del}}
	d, err := delivery.New(delivery.Config{Store: store, MaxAttempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Round(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := store.outcome["d1"], "failed gave up after 3 attempts: HTTP 500 Internal Server Error"; got != want {
		t.Errorf("outcome %q, want %q", got, want)
	}
}

const knownHMAC = "3adf0d07b8ff197750298286c2e29034c2b861d17d5dd28fc89e281376dfa376"
