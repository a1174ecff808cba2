package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/dowserhq/dowser/postgres"
	"github.com/dowserhq/dowser/schema"
)

// Store is the storage the API reads and writes.
type Store interface {
	UserByToken(ctx context.Context, token string) (postgres.User, error)
	UserBySession(ctx context.Context, secret string) (postgres.User, error)
	CreateSession(ctx context.Context, userID string, ttl time.Duration) (string, error)
	DeleteSession(ctx context.Context, secret string) error
	PutUser(ctx context.Context, u postgres.User, token string) error
	DeleteUser(ctx context.Context, id string) error
	GetUser(ctx context.Context, id string) (postgres.User, error)
	PutAccount(ctx context.Context, a postgres.Account) error
	GetAccount(ctx context.Context, id string) (postgres.Account, error)
	PutContent(ctx context.Context, c postgres.Content) error
	GetContent(ctx context.Context, id string) (postgres.Content, error)
	SaveSignal(ctx context.Context, id string, document json.RawMessage, source, by string, enabled bool) (int, error)
	GetSignal(ctx context.Context, id string) (postgres.StoredSignal, error)
	ListSignals(ctx context.Context) ([]postgres.StoredSignal, error)
	DeleteSignal(ctx context.Context, id, by string) error
	SetSignalEnabled(ctx context.Context, id string, enabled bool, by string) error
	SignalHistory(ctx context.Context, id string) ([]postgres.SignalChange, error)
	GetSignalVersion(ctx context.Context, id string, version int) (postgres.SignalVersion, error)
	ListAlerts(ctx context.Context, userID string, limit int) ([]postgres.ListedAlert, error)
	SetDoNotTrack(ctx context.Context, kind, id string, on bool, by string) error
	EraseCustomer(ctx context.Context, customerID, by string) (seq int64, alerts int64, err error)
	ErasureAudit(ctx context.Context) ([]postgres.ErasureAuditEntry, error)
	RoutingStore
}

var _ Store = (*postgres.Store)(nil)

// Streamer serves the websocket alert stream of an authenticated user.
type Streamer interface {
	// ServeStream serves userID's stream; cred re-checks the credential
	// the request was authenticated with, false once it no longer holds.
	ServeStream(w http.ResponseWriter, r *http.Request, userID string, cred func(context.Context) (bool, error))
	// Recheck closes the user's streams whose credential no longer holds.
	Recheck(ctx context.Context, userID string)
}

// EventProducer puts validated events on the events topic.
type EventProducer interface {
	// ProduceEvents writes raw[i], the encoding of events[i], for every i,
	// and returns once the broker has acknowledged all of them.
	ProduceEvents(ctx context.Context, events []schema.Event, raw [][]byte) error
}

// Config configures the HTTP API.
type Config struct {
	// Events receives POST /v1/events; nil answers 503.
	Events EventProducer
	// Preview runs POST /v1/signals/preview; nil answers 503.
	Preview Previewer
	// MaxEventSkew: POST /v1/events refuses an event dated more than this
	// ahead of the clock, as the consumer would; 0 accepts any time.
	MaxEventSkew time.Duration
	// MaxPreviews bounds the previews running at once; a request beyond
	// it is answered 429. 0 means DefaultMaxPreviews.
	MaxPreviews int
	// SessionTTL is how long a browser session lasts.
	SessionTTL time.Duration
	// SecureCookies says when the session cookie is marked Secure; empty
	// is CookiesSecureAuto.
	SecureCookies CookieSecurity
	// TrustedProxies are the proxies whose X-Forwarded-For and
	// X-Forwarded-Proto headers are believed.
	TrustedProxies []netip.Prefix
	// AuthFailuresPerMinute bounds the failed logins and bearer tokens
	// per client address and per token prefix; more answer 429. 0 means
	// 10; a negative value turns throttling off.
	AuthFailuresPerMinute int
	// Now is the throttle's clock; nil is time.Now.
	Now func() time.Time
	// Assets are the static web files served at /.
	Assets fs.FS
	Logger *slog.Logger
}

// Server routes Dowser's HTTP API. It implements http.Handler.
type Server struct {
	cfg      Config
	store    Store
	stream   Streamer
	mux      *routeMux
	throttle *throttle // nil when off
	// previews holds a token for each preview running.
	previews chan struct{}
}

// routeMux is an http.ServeMux that remembers the patterns registered on
// it, so that a test can hold the API description (openapi.json) to them.
type routeMux struct {
	*http.ServeMux
	patterns []string
}

func (m *routeMux) Handle(pattern string, h http.Handler) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.Handle(pattern, h)
}

func (m *routeMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.HandleFunc(pattern, h)
}

var _ http.Handler = (*Server)(nil)

// New returns the API over store, with the alert stream served by stream.
func New(cfg Config, store Store, stream Streamer) *Server {
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.AuthFailuresPerMinute == 0 {
		cfg.AuthFailuresPerMinute = 10
	}
	if cfg.MaxPreviews <= 0 {
		cfg.MaxPreviews = DefaultMaxPreviews
	}
	s := &Server{cfg: cfg, store: store, stream: stream, mux: &routeMux{ServeMux: http.NewServeMux()},
		previews: make(chan struct{}, cfg.MaxPreviews)}
	if cfg.AuthFailuresPerMinute > 0 {
		s.throttle = newThrottle(cfg.AuthFailuresPerMinute, time.Minute, cfg.Now)
	}
	s.routes()
	return s
}

const (
	sessionCookie = "dowser_session"
	csrfHeader    = "X-Dowser-CSRF"
	maxBodyBytes  = 1 << 20
)

func (s *Server) routes() {
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.HandleFunc("GET /v1/openapi.json", serveOpenAPI)
	s.mux.HandleFunc("POST /v1/session", s.login)
	s.mux.HandleFunc("GET /v1/session", s.auth(people, s.whoami))
	s.mux.HandleFunc("DELETE /v1/session", s.auth(people, s.logout))
	s.mux.HandleFunc("GET /v1/stream", s.auth(people, s.serveStream))

	s.mux.HandleFunc("PUT /v1/users/{id}", s.auth(adminOnly, s.putUser))
	s.mux.HandleFunc("DELETE /v1/users/{id}", s.auth(adminOnly, s.deleteUser))
	s.mux.HandleFunc("GET /v1/users/{id}", s.auth(people, s.getUser))
	s.mux.HandleFunc("PUT /v1/accounts/{id}", s.auth(adminOnly, s.putAccount))
	s.mux.HandleFunc("GET /v1/accounts/{id}", s.auth(people, s.getAccount))
	s.mux.HandleFunc("PUT /v1/content/{id}", s.auth(marketing, s.putContent))
	s.mux.HandleFunc("GET /v1/content/{id}", s.auth(people, s.getContent))
	s.mux.HandleFunc("PUT /v1/contacts/{id}", s.auth(adminOnly, s.putContact))
	s.mux.HandleFunc("GET /v1/contacts/{id}", s.auth(people, s.getContact))
	s.mux.HandleFunc("GET /v1/territory-rules", s.auth(people, s.listTerritoryRules))
	s.mux.HandleFunc("PUT /v1/territory-rules/{id}", s.auth(adminOnly, s.putTerritoryRule))
	s.mux.HandleFunc("GET /v1/territory-rules/{id}", s.auth(people, s.getTerritoryRule))
	s.mux.HandleFunc("DELETE /v1/territory-rules/{id}", s.auth(adminOnly, s.deleteTerritoryRule))
	s.mux.HandleFunc("PUT /v1/managers/{id}/subscriptions/{rep}", s.auth(adminOnly, s.subscription(true)))
	s.mux.HandleFunc("DELETE /v1/managers/{id}/subscriptions/{rep}", s.auth(adminOnly, s.subscription(false)))
	s.mux.HandleFunc("GET /v1/signals", s.auth(people, s.listSignals))
	s.mux.HandleFunc("PUT /v1/signals/{id}", s.auth(marketing, s.putSignal))
	s.mux.HandleFunc("POST /v1/signals/preview", s.auth(marketing, s.previewSignal))
	s.mux.HandleFunc("GET /v1/signals/{id}", s.auth(people, s.getSignal))
	s.mux.HandleFunc("DELETE /v1/signals/{id}", s.auth(marketing, s.deleteSignal))
	s.mux.HandleFunc("POST /v1/signals/{id}/enable", s.auth(marketing, s.enableSignal(true)))
	s.mux.HandleFunc("POST /v1/signals/{id}/disable", s.auth(marketing, s.enableSignal(false)))
	s.mux.HandleFunc("GET /v1/signals/{id}/history", s.auth(people, s.signalHistory))
	s.mux.HandleFunc("GET /v1/signals/{id}/versions/{version}", s.auth(people, s.signalVersion))
	s.mux.HandleFunc("GET /v1/signals/{id}/precision", s.auth(people, s.signalPrecision))
	s.mux.HandleFunc("GET /v1/precision", s.auth(people, s.listPrecision))
	s.mux.HandleFunc("GET /v1/alerts", s.auth(people, s.listAlerts))
	s.mux.HandleFunc("POST /v1/events", s.auth(sources, s.postEvents))
	s.mux.HandleFunc("DELETE /v1/customers/{id}", s.auth(adminOnly, s.eraseCustomer))
	s.mux.HandleFunc("GET /v1/erasures", s.auth(adminOnly, s.listErasures))
	s.mux.HandleFunc("PUT /v1/do-not-track/{kind}/{id}", s.auth(adminOnly, s.doNotTrack(true)))
	s.mux.HandleFunc("DELETE /v1/do-not-track/{kind}/{id}", s.auth(adminOnly, s.doNotTrack(false)))

	if s.cfg.Assets != nil {
		s.mux.Handle("GET /", http.FileServerFS(s.cfg.Assets))
	}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	if !strings.HasPrefix(r.URL.Path, "/v1/") {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
	}
	s.mux.ServeHTTP(w, r)
}

// httpError is an error with the status it maps to at the edge.
type httpError struct {
	status   int
	msg      string
	problems any
}

func (e *httpError) Error() string { return e.msg }

func errorf(status int, format string, args ...any) *httpError {
	return &httpError{status: status, msg: fmt.Sprintf(format, args...)}
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var he *httpError
	var limit *postgres.SignalLimitError
	switch {
	case errors.As(err, &he):
	case errors.As(err, &limit):
		he = &httpError{status: http.StatusConflict, msg: fmt.Sprintf(
			"signal %q cannot be enabled: %d signals are enabled, the most this installation allows (--max-enabled-signals, DOWSER_MAX_ENABLED_SIGNALS); disable or delete one first, or save this one with ?enabled=false",
			limit.ID, limit.Limit)}
	case errors.Is(err, postgres.ErrNotFound):
		he = &httpError{status: http.StatusNotFound, msg: err.Error()}
	default:
		// The route, not the path: paths carry people's ids.
		s.cfg.Logger.Error("request failed", "method", r.Method, "route", r.Pattern, "err", err)
		he = &httpError{status: http.StatusInternalServerError, msg: "internal error"}
	}
	body := map[string]any{"error": he.msg}
	if he.problems != nil {
		body["problems"] = he.problems
	}
	writeJSON(w, he.status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// readBody reads a request body of at most maxBodyBytes.
func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errorf(http.StatusRequestEntityTooLarge, "request body exceeds %d bytes", maxBodyBytes)
		}
		return nil, errorf(http.StatusBadRequest, "reading request body: %v", err)
	}
	return b, nil
}

func decodeJSON(r *http.Request, v any) error {
	b, err := readBody(r)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errorf(http.StatusBadRequest, "decoding request body: %v", err)
	}
	return nil
}

func queryInt(r *http.Request, name string, def, maxv int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxv {
		return 0, errorf(http.StatusBadRequest, "%s: %q is not a number between 1 and %d", name, v, maxv)
	}
	return n, nil
}
