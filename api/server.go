package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/formats"
	"github.com/dowserhq/dowser/schema"
)

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
	// ProduceEvents writes raw[i], the encoding of events[i] in format
	// (one of formats.Names()), for every i, marked with its format, and
	// returns once the broker has acknowledged all of them.
	ProduceEvents(ctx context.Context, format string, events []schema.Event, raw [][]byte) error
}

// Config configures the HTTP API.
type Config struct {
	// Events receives POST /v1/events; nil answers 503.
	Events EventProducer
	// Source is how the events topic is read: POST /v1/events in a format
	// is validated with its mapping for that format. Nil: each format's
	// defaults.
	Source *formats.Source
	// Preview runs POST /v1/signals/preview; nil answers 503.
	Preview Previewer
	// MaxEventSkew: POST /v1/events refuses an event dated more than this
	// ahead of the clock, as the consumer would; 0 accepts any time.
	MaxEventSkew time.Duration
	// MaxPreviews bounds the previews running at once; a request beyond
	// it is answered 429. 0 means DefaultMaxPreviews.
	MaxPreviews int
	// Reroute runs POST /v1/content/{id}/impact; nil answers 503.
	Reroute ReroutePreviewer
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
	// JourneyDays is how many days of the buyer's journey are kept
	// (--journey-days): the most a timeline reads, and its default; 0
	// answers the timelines 503.
	JourneyDays int
	// CRM are the templates of links to the CRM's records of an alert's
	// account and person; checked with CRMLinks.Validate.
	CRM CRMLinks
	// Identity is which of a consenting person's name, title and e-mail
	// reps see on alerts and timelines (--contact-identity); the zero
	// value shows people by their customer id only.
	Identity dowser.IdentityFields
	// Links checks one-click links (GET/POST /v1/links/{token}); nil
	// refuses every link.
	Links LinkChecker
	// Assets are the static web files served at /.
	Assets fs.FS
	Logger *slog.Logger
}

// Server routes Dowser's HTTP API. It implements http.Handler.
type Server struct {
	cfg       Config
	people    People
	directory Directory
	signals   Signals
	alerts    Alerts
	privacy   Privacy
	feedback  Feedback
	channels  Channels
	team      Team // nil answers 503
	stages    Stages
	journey   Journey
	stream    Streamer
	mux       *routeMux
	throttle  *throttle // nil when off
	// previews holds a token for each preview running.
	previews chan struct{}
	// escalations serves follow-up rules (api/escalations.go).
	escalations Escalations
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

// New returns the API over stores, with the alert stream served by
// stream.
func New(cfg Config, stores Stores, stream Streamer) *Server {
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
	if cfg.Source == nil {
		cfg.Source, _ = formats.NewSource(formats.SourceConfig{})
	}
	if f, ok := stores.Alerts.(Feedback); ok && stores.Feedback == nil {
		stores.Feedback = f
	}
	if t, ok := stores.Alerts.(Team); ok && stores.Team == nil {
		stores.Team = t
	}
	if st, ok := stores.Alerts.(Stages); ok && stores.Stages == nil {
		stores.Stages = st
	}
	s := &Server{cfg: cfg, team: stores.Team, people: stores.People, directory: stores.Directory, signals: stores.Signals,
		alerts: stores.Alerts, privacy: stores.Privacy, feedback: stores.Feedback, channels: stores.Channels, escalations: stores.Escalations, stages: stores.Stages, journey: stores.Journey, stream: stream, mux: &routeMux{ServeMux: http.NewServeMux()},
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
	s.mux.HandleFunc("GET /v1/accounts/{id}/timeline", s.auth(people, s.timeline(false)))
	s.mux.HandleFunc("GET /v1/customers/{id}/timeline", s.auth(people, s.timeline(true)))
	s.mux.HandleFunc("PUT /v1/content/{id}", s.auth(marketing, s.putContent))
	s.mux.HandleFunc("GET /v1/content", s.auth(people, s.listContent))
	s.mux.HandleFunc("GET /v1/content/{id}", s.auth(people, s.getContent))
	s.mux.HandleFunc("POST /v1/content/{id}/impact", s.auth(marketing, s.contentImpact))
	s.mux.HandleFunc("PUT /v1/contacts/{id}", s.auth(adminOnly, s.putContact))
	s.mux.HandleFunc("GET /v1/contacts/{id}", s.auth(people, s.getContact))
	s.mux.HandleFunc("GET /v1/territory-rules", s.auth(people, s.listTerritoryRules))
	s.mux.HandleFunc("PUT /v1/territory-rules/{id}", s.auth(adminOnly, s.putTerritoryRule))
	s.mux.HandleFunc("GET /v1/territory-rules/{id}", s.auth(people, s.getTerritoryRule))
	s.mux.HandleFunc("DELETE /v1/territory-rules/{id}", s.auth(adminOnly, s.deleteTerritoryRule))
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
	s.mux.HandleFunc("GET /v1/feedback-reasons", s.auth(people, s.listFeedbackReasons))
	s.mux.HandleFunc("PUT /v1/feedback-reasons/{id}", s.auth(marketing, s.putFeedbackReason))
	s.mux.HandleFunc("DELETE /v1/feedback-reasons/{id}", s.auth(marketing, s.retireFeedbackReason))
	s.mux.HandleFunc("PUT /v1/alerts/{id}/verdict", s.auth(people, s.putVerdict))
	s.mux.HandleFunc("GET /v1/feedback/report", s.auth(marketing, s.feedbackReport))
	s.mux.HandleFunc("GET /v1/export/alerts.csv", s.auth(marketing, s.exportAlerts))
	s.mux.HandleFunc("GET /v1/crm", s.auth(people, s.crmLinks))
	s.mux.HandleFunc("PUT /v1/alerts/{id}/snooze", s.auth(people, s.snooze(true)))
	s.mux.HandleFunc("DELETE /v1/alerts/{id}/snooze", s.auth(people, s.snooze(false)))
	s.mux.HandleFunc("GET /v1/channels", s.auth(people, s.listChannels))
	s.mux.HandleFunc("POST /v1/channels", s.auth(people, s.addChannel))
	s.mux.HandleFunc("GET /v1/channels/{id}", s.auth(people, s.getChannel))
	s.mux.HandleFunc("PUT /v1/channels/{id}", s.auth(people, s.putChannel))
	s.mux.HandleFunc("DELETE /v1/channels/{id}", s.auth(people, s.deleteChannel))
	s.mux.HandleFunc("GET /v1/channels/{id}/deliveries", s.auth(people, s.channelDeliveries))
	s.mux.HandleFunc("GET /v1/users/{user}/channels", s.auth(adminOnly, s.listChannels))
	s.mux.HandleFunc("POST /v1/users/{user}/channels", s.auth(adminOnly, s.addChannel))
	s.escalationRoutes()
	s.mux.HandleFunc("POST /v1/events", s.auth(sources, s.postEvents))
	s.mux.HandleFunc("DELETE /v1/customers/{id}", s.auth(adminOnly, s.eraseCustomer))
	s.mux.HandleFunc("GET /v1/erasures", s.auth(adminOnly, s.listErasures))
	s.mux.HandleFunc("PUT /v1/do-not-track/{kind}/{id}", s.auth(adminOnly, s.doNotTrack(true)))
	s.mux.HandleFunc("DELETE /v1/do-not-track/{kind}/{id}", s.auth(adminOnly, s.doNotTrack(false)))
	s.teamRoutes()
	s.stageRoutes()
	// One-click links authenticate by their signed token, not a session.
	s.mux.HandleFunc("GET /v1/links/{token}", s.openLink)
	s.mux.HandleFunc("POST /v1/links/{token}", s.useLink)

	if s.cfg.Assets != nil {
		s.mux.Handle("GET /", appAssets(http.FileServerFS(s.cfg.Assets))) // pwa.go
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
	var limit *dowser.SignalLimitError
	switch {
	case errors.As(err, &he):
	case errors.As(err, &limit):
		he = &httpError{status: http.StatusConflict, msg: fmt.Sprintf(
			"signal %q cannot be enabled: %d signals are enabled, the most this installation allows (--max-enabled-signals, DOWSER_MAX_ENABLED_SIGNALS); disable or delete one first, or save this one with ?enabled=false",
			limit.ID, limit.Limit)}
	case errors.Is(err, dowser.ErrNotFound):
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

// The media types a request body may have: JSON everywhere, and YAML too
// where the body is a signal definition.
var (
	jsonTypes   = []string{"application/json"}
	signalTypes = []string{"application/json", "application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"}
)

// requireType refuses (415) a request whose Content-Type is not one of
// types, or names a charset other than UTF-8. Browsers send text/plain
// cross-site without a preflight: refusing it is part of CSRF defence.
func requireType(r *http.Request, types []string) error {
	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || !slices.Contains(types, mt) {
		return errorf(http.StatusUnsupportedMediaType, "Content-Type: %q is not %s", ct, strings.Join(types, " or "))
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return errorf(http.StatusUnsupportedMediaType, "Content-Type: charset %q is not utf-8", cs)
	}
	return nil
}

// readBody reads a request body of at most maxBodyBytes, of one of the
// media types, that is valid UTF-8 without NUL bytes (PostgreSQL text
// holds neither).
func readBody(r *http.Request, types []string) ([]byte, error) {
	if err := requireType(r, types); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errorf(http.StatusRequestEntityTooLarge, "request body exceeds %d bytes", maxBodyBytes)
		}
		return nil, errorf(http.StatusBadRequest, "reading request body: %v", err)
	}
	if !utf8.Valid(b) {
		return nil, errorf(http.StatusBadRequest, "request body: not valid UTF-8 at byte %d", invalidUTF8At(b))
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return nil, errorf(http.StatusBadRequest, "request body: NUL byte at byte %d", i)
	}
	return b, nil
}

func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return -1
}

// decodeJSON is the one decoder of JSON request bodies: Content-Type
// application/json, at most maxBodyBytes of UTF-8, exactly one JSON value
// without trailing data and without a member name twice in one object at
// any depth (encoding/json would keep the last: "role":"rep","role":"admin"
// would make an admin), and no unknown fields.
func decodeJSON(r *http.Request, v any) error {
	b, err := readBody(r, jsonTypes)
	if err != nil {
		return err
	}
	if err := checkStrictJSON(b, true); err != nil {
		return errorf(http.StatusBadRequest, "decoding request body: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errorf(http.StatusBadRequest, "decoding request body: %v", err)
	}
	return nil
}

// checkStrictJSON checks that b is one JSON value, followed by nothing but
// white space, in which no object names a member twice. With fold, names
// that differ only in case are the same name, as encoding/json matches
// them to struct fields ("Role" sets role too). Nesting deeper than
// encoding/json's own limit is refused.
func checkStrictJSON(b []byte, fold bool) error {
	type frame struct {
		object    bool
		names     map[string]bool // of an object: the names seen
		name      string          // of an object: the name whose value is next
		wantValue bool            // of an object: a value is next, not a name
		items     int             // of an array: the items so far
	}
	var stack []*frame
	// path names where the scan is; built only for a message, as building
	// it at every level would cost depth² bytes.
	path := func(last string) string {
		var sb strings.Builder
		for _, f := range stack[:len(stack)-1] {
			if f.object {
				if sb.Len() > 0 {
					sb.WriteByte('.')
				}
				sb.WriteString(f.name)
			} else {
				fmt.Fprintf(&sb, "[%d]", f.items-1)
			}
		}
		return joinPath(sb.String(), last)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return errors.New("unexpected end of JSON input")
		}
		if err != nil {
			return err
		}
		var top *frame
		if n := len(stack); n > 0 {
			top = stack[n-1]
		}
		delim, _ := tok.(json.Delim)
		switch {
		case delim == '}' || delim == ']':
			stack = stack[:len(stack)-1]
		case top != nil && top.object && !top.wantValue:
			name := tok.(string) // json.Decoder allows nothing else here
			key := name
			if fold {
				key = foldName(name)
			}
			if top.names[key] {
				return fmt.Errorf("%s: member named twice", path(name))
			}
			top.names[key] = true
			top.name, top.wantValue = name, true
			continue
		default: // a value
			if top != nil && top.object {
				top.wantValue = false
			} else if top != nil {
				top.items++
			}
			switch delim {
			case '{':
				stack = append(stack, &frame{object: true, names: map[string]bool{}})
			case '[':
				stack = append(stack, &frame{})
			}
			if len(stack) > maxJSONDepth {
				return fmt.Errorf("nested deeper than %d levels", maxJSONDepth)
			}
		}
		if len(stack) == 0 {
			break
		}
	}
	if rest := bytes.TrimLeft(b[dec.InputOffset():], " \t\r\n"); len(rest) > 0 {
		return fmt.Errorf("trailing data after the JSON value, at byte %d", len(b)-len(rest))
	}
	return nil
}

// maxJSONDepth is encoding/json's own nesting limit.
const maxJSONDepth = 10000

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// foldName maps every rune of name to the smallest rune of its Unicode
// simple-folding orbit: two names are equal under strings.EqualFold (how
// encoding/json matches fields) exactly when their foldNames are equal.
func foldName(name string) string {
	var b strings.Builder
	b.Grow(len(name))
	for _, r := range name {
		min := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if f < min {
				min = f
			}
		}
		b.WriteRune(min)
	}
	return b.String()
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
