package notify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/schema"
)

// History is the durable record of deliveries the hub replays from.
type History interface {
	// DeliveriesAfter returns up to limit of the user's deliveries with a
	// sequence above after, in sequence order.
	DeliveriesAfter(ctx context.Context, userID string, after int64, limit int) ([]schema.Delivery, error)
	// LastSeq returns the highest sequence handed out to the user.
	LastSeq(ctx context.Context, userID string) (int64, error)
}

// Actions records what a user does with an alert addressed to them. Each
// returns an error wrapping dowser.ErrNotFound when the alert was not
// addressed to the user; the hub reports it without detail.
//
// The hub calls them off the connection's reader, one call at a time per
// connection, in the order the client sent the frames, with a context that
// ends when the connection does.
type Actions interface {
	// Seen records that the user's panel showed the alert.
	Seen(ctx context.Context, userID, alertID string) error
	// Ack records an acknowledgement made on the connection named from,
	// and has every instance hear of it when it is the first
	// ([VerdictSource], Acked), so that this connection is not told.
	Ack(ctx context.Context, userID, alertID, from string) error
	// Feedback records a verdict given on the connection named from, and
	// has every instance hear of it ([VerdictSource]) with From set to
	// from, so that this connection is not told its own verdict.
	Feedback(ctx context.Context, userID, alertID, verdict, note, from string) error
}

// People tells whom alerts are about as reps may see them:
// *postgres.Directory.
type People interface {
	// People returns, by customer id, those of ids whom reps may see by
	// more than their id, with the fields shown allows.
	People(ctx context.Context, shown dowser.IdentityFields, ids []string) (map[string]dowser.Person, error)
}

// Close codes the hub uses beyond the standard ones.
const (
	// CloseTooSlow tells a client it fell behind and was dropped; it should
	// reconnect and resume from the last sequence it saw.
	CloseTooSlow = 4008
	// CloseSessionRevoked tells a client that the credential it connected
	// with ended (logout, token rotated, user disabled or deleted): it
	// must log in again, not reconnect with the same credential.
	CloseSessionRevoked = 4001
)

// HubConfig configures a Hub.
type HubConfig struct {
	// AllowedOrigins lists extra browser origins (scheme://host[:port])
	// allowed to open the stream; the server's own origin always is.
	AllowedOrigins []string
	// QueueSize bounds the frames waiting for one client; beyond it the
	// client catches up from the history.
	QueueSize int
	// WriteTimeout bounds one frame write, and how long a client may stay
	// behind its queue before it is dropped as too slow.
	WriteTimeout time.Duration
	// PingInterval is how often an idle connection is pinged; a client
	// silent for twice as long is dropped.
	PingInterval time.Duration
	// ActionQueueSize bounds the seen, ack and feedback frames of one
	// client waiting to be stored; beyond it such a frame is not stored
	// and is answered with an error saying the connection is busy.
	ActionQueueSize int
	// MaxFrameBytes bounds a client frame.
	MaxFrameBytes int64
	// RecheckInterval is how often each connection's credential is checked
	// again on its own, besides when a revocation names its user: a
	// session that simply expires records no revocation.
	RecheckInterval time.Duration
	// Identity is which of a consenting person's fields alert frames
	// carry (--contact-identity), read from People as each frame is
	// written; the zero value or a nil People sends customer ids only.
	Identity dowser.IdentityFields
	People   People
	Logger   *slog.Logger
}

func (c *HubConfig) setDefaults() {
	if c.QueueSize <= 0 {
		c.QueueSize = 256
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 30 * time.Second
	}
	if c.ActionQueueSize <= 0 {
		c.ActionQueueSize = 64
	}
	if c.MaxFrameBytes <= 0 {
		c.MaxFrameBytes = 4 << 10
	}
	if c.RecheckInterval <= 0 {
		c.RecheckInterval = time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Hub holds the websocket connections of this instance and delivers alert
// frames to the connections of their recipient. A slow client never slows a
// publisher or another client: it has a bounded queue. A burst that
// overflows the queue costs no memory: the queued deliveries are dropped and
// the client's writer reads them from the history instead, in order. A
// client still behind WriteTimeout after it fell behind is dropped with
// CloseTooSlow.
//
// An idle connection costs one goroutine (its reader), a small read buffer
// and a timer: frames wait in a queue allocated only while it holds any,
// and a writer goroutine runs only while there is something to write.
// Likewise a worker goroutine runs only while seen, ack or feedback frames
// wait to be stored, so a slow store holds up neither the reader (pings,
// resumes) nor the writer, and a connection's actions keep their order.
type Hub struct {
	cfg      HubConfig
	history  History
	actions  Actions
	upgrader websocket.Upgrader
	conns    prometheus.Gauge
	latency  prometheus.Histogram

	// name is this hub's, random per process; its connections are named
	// name/1, name/2, ... (client.name).
	name    string
	opened  atomic.Int64 // connections opened, for their names
	mu      sync.Mutex
	clients map[string][]*client // by user; a user rarely has more than a few
	closed  bool
}

// NewHub returns a hub replaying from history and recording actions.
func NewHub(cfg HubConfig, history History, actions Actions, reg prometheus.Registerer) *Hub {
	cfg.setDefaults()
	var name [6]byte
	_, _ = rand.Read(name[:])
	h := &Hub{
		name:    hex.EncodeToString(name[:]),
		cfg:     cfg,
		history: history,
		actions: actions,
		clients: make(map[string][]*client),
		conns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dowser_websocket_connections",
			Help: "Websocket connections open on this instance.",
		}),
	}
	h.latency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "dowser_delivery_latency_seconds",
		Help:    "From the triggering event's time to its alert frame written to a live socket.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 20),
	})
	reg.MustRegister(h.conns, h.latency)
	allowed := make(map[string]bool, len(cfg.AllowedOrigins))
	for _, o := range cfg.AllowedOrigins {
		if u, err := url.Parse(strings.TrimRight(o, "/")); err == nil {
			allowed[originKey(u.Scheme, u.Host)] = true
		}
	}
	h.upgrader = websocket.Upgrader{
		// Each connection keeps its read buffer for life: client frames are
		// small and rare, so a small one will do. (With 0 gorilla would keep
		// the HTTP server's 4 KiB reader instead.)
		ReadBufferSize:  readBufferSize,
		WriteBufferSize: 4096,
		// Buffers are borrowed only while writing, so idle connections hold
		// none.
		WriteBufferPool: &sync.Pool{},
		CheckOrigin: func(r *http.Request) bool {
			origin := r.Header.Get("Origin")
			if origin == "" {
				return true // not a browser: the bearer token is the proof
			}
			u, err := url.Parse(origin)
			if err != nil || u.Host == "" {
				return false
			}
			// Scheme, host and port must all match: http://host is
			// another origin than https://host (a page served in clear
			// text, which anyone on the path can write).
			key := originKey(u.Scheme, u.Host)
			return key == originKey(requestScheme(r), r.Host) || allowed[key]
		},
	}
	return h
}

// requestScheme is the scheme the browser used to reach the server: https
// when the connection is TLS or a TLS-terminating proxy says so in
// X-Forwarded-Proto (a browser cannot set that header on a websocket
// handshake, so a foreign page cannot use it to pass the check).
func requestScheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
	if strings.EqualFold(strings.TrimSpace(proto), "https") {
		return "https"
	}
	return "http"
}

// originKey is scheme://host:port in lower case, with the scheme's
// default port made explicit, so that https://a and https://a:443 are
// one origin.
func originKey(scheme, host string) string {
	scheme, host = strings.ToLower(scheme), strings.ToLower(host)
	if _, port, err := net.SplitHostPort(host); err != nil || port == "" {
		h := strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
		switch scheme {
		case "https", "wss":
			host = net.JoinHostPort(h, "443")
		default:
			host = net.JoinHostPort(h, "80")
		}
	}
	return scheme + "://" + host
}

// readBufferSize is the read buffer of a connection: room for a frame
// header and a control frame; longer client frames take a few reads.
const readBufferSize = 512

// Deliver queues the deliveries for the connections of their recipients on
// this instance. It never blocks.
func (h *Hub) Deliver(ds ...schema.Delivery) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, d := range ds {
		for _, c := range h.clients[d.UserID] {
			c.enqueue(d)
		}
	}
}

// Connected reports whether the user has a stream open on this instance.
func (h *Hub) Connected(userID string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients[userID]) > 0
}

// Users returns the users with a stream open on this instance.
func (h *Hub) Users() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, 0, len(h.clients))
	for u, cs := range h.clients {
		if len(cs) > 0 {
			out = append(out, u)
		}
	}
	return out
}

// Close closes every connection with "going away"; clients reconnect to
// another instance and resume.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for _, cs := range h.clients {
		for _, c := range cs {
			c.stop(websocket.CloseGoingAway, "server shutting down")
		}
	}
}

// Recheck checks the credential of each of the user's connections on this
// instance and closes with CloseSessionRevoked those whose credential no
// longer holds. A check that fails (storage unreachable) leaves the
// connection open: the next revocation checks again.
func (h *Hub) Recheck(ctx context.Context, userID string) {
	h.mu.Lock()
	cs := slices.Clone(h.clients[userID])
	h.mu.Unlock()
	for _, c := range cs {
		if c.cred == nil {
			continue
		}
		c.checkCredential(ctx)
	}
}

// ServeStream upgrades the request to the alert stream of userID, who the
// caller has authenticated; cred re-checks that credential, reporting
// false once it no longer holds (nil: a credential that never ends).
// It returns once the connection is set up; the connection lives on in
// its reader goroutine, and in a writer goroutine while it has frames to
// write.
func (h *Hub) ServeStream(w http.ResponseWriter, r *http.Request, userID string, cred func(context.Context) (bool, error)) {
	// The upgrader clears the deadlines the HTTP server set for reading
	// the request (its ReadTimeout): from here the connection keeps the
	// hub's own, a read deadline renewed by pongs and one per write.
	conn, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered with an HTTP error
	}
	c := newClient(h, userID, conn)
	c.name = h.name + "/" + strconv.FormatInt(h.opened.Add(1), 10)
	c.cred = cred
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down"), time.Now().Add(time.Second))
		conn.Close()
		c.cancel()
		return
	}
	h.clients[userID] = append(h.clients[userID], c)
	h.mu.Unlock()
	h.conns.Inc()
	c.ping = time.AfterFunc(h.cfg.PingInterval, c.pingDue)
	if cred != nil {
		c.mu.Lock() // recheckDue reads it
		c.recheck = time.AfterFunc(h.cfg.RecheckInterval, c.recheckDue)
		c.mu.Unlock()
	}
	// The hello is the first frame: the writer starts with it.
	go c.flush()
	go c.readLoop()
}

func (h *Hub) remove(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cs := h.clients[c.user]
	if i := slices.Index(cs, c); i >= 0 {
		cs = slices.Delete(cs, i, i+1)
		h.conns.Dec()
	}
	if len(cs) == 0 {
		delete(h.clients, c.user)
	} else {
		h.clients[c.user] = cs
	}
}
