package notify

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

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
// returns an error wrapping a not-found error when the alert was not
// addressed to the user; the hub reports it without detail.
type Actions interface {
	// Seen records that the user's panel showed the alert.
	Seen(ctx context.Context, userID, alertID string) error
	Ack(ctx context.Context, userID, alertID string) error
	Feedback(ctx context.Context, userID, alertID, verdict, note string) error
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
	// MaxFrameBytes bounds a client frame.
	MaxFrameBytes int64
	Logger        *slog.Logger
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
	if c.MaxFrameBytes <= 0 {
		c.MaxFrameBytes = 4 << 10
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
type Hub struct {
	cfg      HubConfig
	history  History
	actions  Actions
	upgrader websocket.Upgrader
	conns    prometheus.Gauge
	latency  prometheus.Histogram

	mu      sync.Mutex
	clients map[string][]*client // by user; a user rarely has more than a few
	closed  bool
}

// NewHub returns a hub replaying from history and recording actions.
func NewHub(cfg HubConfig, history History, actions Actions, reg prometheus.Registerer) *Hub {
	cfg.setDefaults()
	h := &Hub{
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

// maxReplies bounds the answers to client frames waiting to be written.
const maxReplies = 16

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
		ok, err := c.cred(ctx)
		if err != nil {
			h.cfg.Logger.Warn("websocket: re-checking credential", "user", userID, "err", err)
			continue
		}
		if !ok {
			c.stop(CloseSessionRevoked, "session revoked")
		}
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

// client is one websocket connection. Frames to send wait in its fields
// under mu; at most one goroutine at a time, the one that set writing,
// runs flush and writes to conn (besides the reader's control frames,
// which gorilla allows concurrently).
type client struct {
	hub    *Hub
	user   string
	conn   *websocket.Conn
	ctx    context.Context // ends when the connection stops: aborts history reads
	cancel context.CancelFunc
	ping   *time.Timer
	cred   func(context.Context) (bool, error)

	mu        sync.Mutex
	writing   bool              // a goroutine is in flush
	hello     bool              // the hello frame is still to be sent
	queue     []schema.Delivery // live deliveries; nil when empty
	catchUp   bool              // the queue overflowed: read from the history instead
	behind    time.Time         // when the queue overflowed; zero once caught up
	replies   [][]byte          // answers to client frames; nil when empty
	resume    int64             // a resume request's "after", -1 for none
	pinging   bool              // a ping is due
	stopped   bool
	closeCode int
	closeText string

	// sent is the highest sequence this connection has sent or skipped
	// past; frames at or below it are never sent again. Only flush uses it.
	sent int64
}

// newClient returns a client whose writer is marked running, with the
// hello frame due: the caller starts flush.
func newClient(h *Hub, user string, conn *websocket.Conn) *client {
	ctx, cancel := context.WithCancel(context.Background())
	return &client{hub: h, user: user, conn: conn, ctx: ctx, cancel: cancel, writing: true, hello: true, resume: -1}
}

// kick starts a writer unless one runs. c.mu must be held.
func (c *client) kick() {
	if !c.writing {
		c.writing = true
		go c.flush()
	}
}

func (c *client) enqueue(d schema.Delivery) {
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return
	}
	if c.catchUp {
		c.mu.Unlock()
		return // the catch-up reads it from the history
	}
	if len(c.queue) >= c.hub.cfg.QueueSize {
		// A burst (a failover, the alerts topic catching up) can outrun a
		// client that reads as fast as it can. Deliveries are stored
		// before they are delivered: drop the queue, read the history.
		c.queue = nil
		c.catchUp = true
		if c.behind.IsZero() {
			c.behind = time.Now()
		}
		c.kick()
		c.mu.Unlock()
		return
	}
	if c.queue == nil {
		c.queue = make([]schema.Delivery, 0, 4)
	}
	c.queue = append(c.queue, d)
	c.kick()
	c.mu.Unlock()
}

func (c *client) reply(frame []byte) {
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return
	}
	if len(c.replies) >= maxReplies {
		c.mu.Unlock()
		c.stop(CloseTooSlow, "too slow; reconnect and resume")
		return
	}
	c.replies = append(c.replies, frame)
	c.kick()
	c.mu.Unlock()
}

// requestResume asks the writer to replay from after; only the newest
// request matters.
func (c *client) requestResume(after int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return
	}
	c.resume = after
	c.kick()
}

// pingDue runs on the ping timer's own goroutine, which becomes the writer
// when none is running.
func (c *client) pingDue() {
	c.mu.Lock()
	c.pinging = true
	if c.writing {
		c.mu.Unlock()
		return
	}
	c.writing = true
	c.mu.Unlock()
	c.flush()
}

// stop asks the writer to send a close frame and end the connection.
func (c *client) stop(code int, text string) {
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return
	}
	c.stopped = true
	c.closeCode, c.closeText = code, text
	c.queue, c.replies = nil, nil
	c.kick()
	c.mu.Unlock()
	c.cancel() // a history read in progress need not finish
}

// frame is a server-to-client message other than an alert.
type frame struct {
	Op      string `json:"op"`
	User    string `json:"user,omitempty"`
	LastSeq *int64 `json:"last_seq,omitempty"`
	ID      string `json:"id,omitempty"`
	Verdict string `json:"verdict,omitempty"`
	Error   string `json:"error,omitempty"`
}

func encode(f frame) []byte {
	b, _ := json.Marshal(f) // a struct of strings and ints always encodes
	return b
}

// alertFrame encodes {"op":"alert","seq":N,"alert":...} without decoding the
// stored alert again, adding "acked" and "verdict" when the user has
// already acted on it.
func alertFrame(d schema.Delivery) []byte {
	b := make([]byte, 0, len(d.Alert)+80)
	b = append(b, `{"op":"alert","seq":`...)
	b = strconv.AppendInt(b, d.Seq, 10)
	if d.Acked {
		b = append(b, `,"acked":true`...)
	}
	if d.Verdict != "" {
		b = append(b, `,"verdict":`...)
		b = strconv.AppendQuote(b, d.Verdict) // one of three plain words
	}
	b = append(b, `,"alert":`...)
	b = append(b, d.Alert...)
	return append(b, '}')
}

const replayPage = 500

// flush writes what is due, in this order: the close frame once the
// connection is stopped, the hello, a resume's replay, a catch-up after an
// overflow, live deliveries, replies, a ping; it returns when nothing is
// left, and for good once the connection is closed.
func (c *client) flush() {
	for {
		c.mu.Lock()
		switch {
		case c.stopped:
			code, text := c.closeCode, c.closeText
			c.mu.Unlock()
			// writing stays set: nothing writes to this connection again.
			c.finish(code, text)
			return
		case c.hello:
			c.hello = false
			c.mu.Unlock()
			c.sendHello()
		case c.resume >= 0:
			after := c.resume
			c.resume = -1
			c.mu.Unlock()
			// A client cannot claim more than exists: that would skip
			// deliveries still to come.
			if latest, err := c.hub.history.LastSeq(c.ctx, c.user); err == nil && after > latest {
				after = latest
			}
			c.sent = max(after, 0)
			c.replay(0)
		case c.catchUp:
			c.catchUp = false
			late := time.Since(c.behind) > c.hub.cfg.WriteTimeout
			c.mu.Unlock()
			if late {
				// Overflowed again, long after it first fell behind: it
				// cannot keep up, and resumes when it can.
				c.stop(CloseTooSlow, "too slow; reconnect and resume")
				continue
			}
			c.replay(0)
			c.mu.Lock()
			if !c.catchUp {
				c.behind = time.Time{} // caught up with the history
			}
			c.mu.Unlock()
		case len(c.queue) > 0:
			d := c.queue[0]
			if len(c.queue) == 1 {
				c.queue = nil // an idle connection holds no queue
			} else {
				c.queue[0] = schema.Delivery{}
				c.queue = c.queue[1:]
			}
			c.mu.Unlock()
			c.deliver(d)
		case len(c.replies) > 0:
			b := c.replies[0]
			if len(c.replies) == 1 {
				c.replies = nil
			} else {
				c.replies[0] = nil
				c.replies = c.replies[1:]
			}
			c.mu.Unlock()
			c.write(b)
		case c.pinging:
			c.pinging = false
			c.mu.Unlock()
			if err := c.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.hub.cfg.WriteTimeout)); err != nil {
				c.stop(websocket.CloseAbnormalClosure, "")
			} else {
				c.ping.Reset(c.hub.cfg.PingInterval)
			}
		default:
			c.writing = false
			c.mu.Unlock()
			return
		}
	}
}

// finish sends the close frame, closes the connection and forgets it.
func (c *client) finish(code int, text string) {
	c.ping.Stop()
	if code != websocket.CloseAbnormalClosure {
		_ = c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(time.Second))
	}
	c.conn.Close()
	c.hub.remove(c)
}

// write sends one frame; a failed write stops the connection, which is
// unusable after it.
func (c *client) write(b []byte) bool {
	_ = c.conn.SetWriteDeadline(time.Now().Add(c.hub.cfg.WriteTimeout))
	if err := c.conn.WriteMessage(websocket.TextMessage, b); err != nil {
		c.stop(websocket.CloseAbnormalClosure, "")
		return false
	}
	return true
}

func (c *client) sendHello() {
	last, err := c.hub.history.LastSeq(c.ctx, c.user)
	if err != nil {
		if c.ctx.Err() == nil {
			c.hub.cfg.Logger.Warn("websocket: reading last sequence", "err", err)
		}
		c.stop(websocket.CloseInternalServerErr, "history unavailable; retry")
		return
	}
	if c.write(encode(frame{Op: "hello", User: c.user, LastSeq: &last})) {
		c.sent = last
	}
}

// deliver sends a live delivery, first filling any gap before it from the
// durable record: deliveries committed by other partitions can reach the
// hub out of order, and the client must see every sequence once, in order.
func (c *client) deliver(d schema.Delivery) {
	if d.Seq <= c.sent {
		return
	}
	if d.Seq > c.sent+1 {
		c.replay(d.Seq)
		return
	}
	if !c.write(alertFrame(d)) {
		return
	}
	c.sent = d.Seq
	if !d.EventTime.IsZero() {
		c.hub.latency.Observe(time.Since(d.EventTime).Seconds())
	}
}

// replay sends every delivery above c.sent up to upto (0: to the end).
func (c *client) replay(upto int64) {
	for {
		ds, err := c.hub.history.DeliveriesAfter(c.ctx, c.user, c.sent, replayPage)
		if err != nil {
			if c.ctx.Err() == nil {
				c.hub.cfg.Logger.Warn("websocket: replaying deliveries", "err", err)
			}
			c.stop(websocket.CloseInternalServerErr, "history unavailable; retry")
			return
		}
		for _, d := range ds {
			if upto > 0 && d.Seq > upto {
				return
			}
			if !c.write(alertFrame(d)) {
				return
			}
			c.sent = d.Seq
		}
		if len(ds) < replayPage {
			return
		}
	}
}

// clientFrame is a client-to-server message.
type clientFrame struct {
	Op      string `json:"op"`
	After   int64  `json:"after"`
	ID      string `json:"id"`
	Verdict string `json:"verdict"`
	Note    string `json:"note"`
}

func (c *client) readLoop() {
	defer c.stop(websocket.CloseNormalClosure, "")
	c.conn.SetReadLimit(c.hub.cfg.MaxFrameBytes)
	deadline := 2 * c.hub.cfg.PingInterval
	_ = c.conn.SetReadDeadline(time.Now().Add(deadline))
	c.conn.SetPongHandler(func(string) error {
		return c.conn.SetReadDeadline(time.Now().Add(deadline))
	})
	for {
		_, data, err := c.conn.ReadMessage()
		if err != nil {
			return
		}
		_ = c.conn.SetReadDeadline(time.Now().Add(deadline))
		c.handle(data)
	}
}

func (c *client) handle(data []byte) {
	var f clientFrame
	if err := json.Unmarshal(data, &f); err != nil {
		c.reply(encode(frame{Op: "error", Error: "frame is not a JSON object: " + err.Error()}))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	switch f.Op {
	case "resume":
		if f.After < 0 {
			c.reply(encode(frame{Op: "error", Error: "resume: after must be >= 0"}))
			return
		}
		c.requestResume(f.After)
	case "seen":
		if f.ID == "" {
			c.reply(encode(frame{Op: "error", Error: "seen: id is required"}))
			return
		}
		if err := c.hub.actions.Seen(ctx, c.user, f.ID); err != nil {
			c.reply(encode(frame{Op: "error", ID: f.ID, Error: "seen: " + actionError(err)}))
			return
		}
		c.reply(encode(frame{Op: "seen_ok", ID: f.ID}))
	case "ack":
		if f.ID == "" {
			c.reply(encode(frame{Op: "error", Error: "ack: id is required"}))
			return
		}
		if err := c.hub.actions.Ack(ctx, c.user, f.ID); err != nil {
			c.reply(encode(frame{Op: "error", ID: f.ID, Error: "ack: " + actionError(err)}))
			return
		}
		c.reply(encode(frame{Op: "acked", ID: f.ID}))
	case "feedback":
		if len(f.Note) > 1000 {
			c.reply(encode(frame{Op: "error", ID: f.ID, Error: "feedback: note is longer than 1000 characters"}))
			return
		}
		switch f.Verdict {
		case "useful", "not_useful", "won":
		default:
			c.reply(encode(frame{Op: "error", ID: f.ID, Error: "feedback: verdict must be useful, not_useful or won, not " + strconv.Quote(f.Verdict)}))
			return
		}
		if err := c.hub.actions.Feedback(ctx, c.user, f.ID, f.Verdict, f.Note); err != nil {
			c.reply(encode(frame{Op: "error", ID: f.ID, Error: "feedback: " + actionError(err)}))
			return
		}
		c.reply(encode(frame{Op: "feedback_saved", ID: f.ID, Verdict: f.Verdict}))
	default:
		c.reply(encode(frame{Op: "error", Error: "unknown op " + strconv.Quote(f.Op) + "; expected resume, seen, ack or feedback"}))
	}
}

// ErrNotAddressed may be wrapped by Actions errors for an alert that was not
// addressed to the user.
var ErrNotAddressed = errors.New("no such alert for this user")

func actionError(err error) string {
	if errors.Is(err, ErrNotAddressed) {
		return ErrNotAddressed.Error()
	}
	return "could not be saved; retry"
}
