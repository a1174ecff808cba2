package notify

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
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
)

// HubConfig configures a Hub.
type HubConfig struct {
	// AllowedOrigins lists extra browser origins (scheme://host[:port])
	// allowed to open the stream; the server's own origin always is.
	AllowedOrigins []string
	// QueueSize bounds the frames waiting for one client.
	QueueSize int
	// WriteTimeout bounds one frame write.
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
// publisher or another client: it has a bounded queue and is dropped with
// CloseTooSlow when the queue overflows.
type Hub struct {
	cfg      HubConfig
	history  History
	actions  Actions
	upgrader websocket.Upgrader
	conns    prometheus.Gauge
	latency  prometheus.Histogram

	mu      sync.Mutex
	clients map[string]map[*client]struct{}
	closed  bool
}

// NewHub returns a hub replaying from history and recording actions.
func NewHub(cfg HubConfig, history History, actions Actions, reg prometheus.Registerer) *Hub {
	cfg.setDefaults()
	h := &Hub{
		cfg:     cfg,
		history: history,
		actions: actions,
		clients: make(map[string]map[*client]struct{}),
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
		allowed[strings.ToLower(strings.TrimRight(o, "/"))] = true
	}
	h.upgrader = websocket.Upgrader{
		ReadBufferSize:  1024,
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
			if err != nil {
				return false
			}
			return strings.EqualFold(u.Host, r.Host) || allowed[strings.ToLower(origin)]
		},
	}
	return h
}

// Deliver queues the deliveries for the connections of their recipients on
// this instance. It never blocks.
func (h *Hub) Deliver(ds ...schema.Delivery) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, d := range ds {
		for c := range h.clients[d.UserID] {
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
	for _, set := range h.clients {
		for c := range set {
			c.stop(websocket.CloseGoingAway, "server shutting down")
		}
	}
}

// ServeStream upgrades the request to the alert stream of userID, who the
// caller has authenticated. It returns once the connection is set up; the
// connection lives on in its own goroutines.
func (h *Hub) ServeStream(w http.ResponseWriter, r *http.Request, userID string) {
	conn, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered with an HTTP error
	}
	c := &client{
		hub:     h,
		user:    userID,
		conn:    conn,
		queue:   make(chan schema.Delivery, h.cfg.QueueSize),
		replies: make(chan []byte, 16),
		resume:  make(chan int64, 1),
		done:    make(chan struct{}),
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down"), time.Now().Add(time.Second))
		conn.Close()
		return
	}
	if h.clients[userID] == nil {
		h.clients[userID] = make(map[*client]struct{})
	}
	h.clients[userID][c] = struct{}{}
	h.mu.Unlock()
	h.conns.Inc()
	go c.writeLoop()
	go c.readLoop()
}

func (h *Hub) remove(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if set := h.clients[c.user]; set != nil {
		if _, ok := set[c]; ok {
			delete(set, c)
			h.conns.Dec()
		}
		if len(set) == 0 {
			delete(h.clients, c.user)
		}
	}
}

// client is one websocket connection. Only writeLoop writes to conn.
type client struct {
	hub     *Hub
	user    string
	conn    *websocket.Conn
	queue   chan schema.Delivery
	replies chan []byte
	resume  chan int64

	stopOnce  sync.Once
	done      chan struct{}
	closeCode int
	closeText string
}

func (c *client) enqueue(d schema.Delivery) {
	select {
	case c.queue <- d:
	default:
		c.stop(CloseTooSlow, "too slow; reconnect and resume")
	}
}

func (c *client) reply(frame []byte) {
	select {
	case c.replies <- frame:
	default:
		c.stop(CloseTooSlow, "too slow; reconnect and resume")
	}
}

// stop asks writeLoop to send a close frame and end the connection.
func (c *client) stop(code int, text string) {
	c.stopOnce.Do(func() {
		c.closeCode, c.closeText = code, text
		close(c.done)
	})
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

func (c *client) writeLoop() {
	defer func() {
		c.hub.remove(c)
		c.conn.Close()
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-c.done
		cancel()
	}()

	write := func(b []byte) bool {
		_ = c.conn.SetWriteDeadline(time.Now().Add(c.hub.cfg.WriteTimeout))
		if err := c.conn.WriteMessage(websocket.TextMessage, b); err != nil {
			// After a failed write the connection is unusable.
			c.stop(websocket.CloseAbnormalClosure, "")
			return false
		}
		return true
	}

	last, err := c.hub.history.LastSeq(ctx, c.user)
	if err != nil {
		c.hub.cfg.Logger.Warn("websocket: reading last sequence", "err", err)
		c.stop(websocket.CloseInternalServerErr, "history unavailable; retry")
	} else if !write(encode(frame{Op: "hello", User: c.user, LastSeq: &last})) {
		return
	}
	// sent is the highest sequence this connection has sent or skipped
	// past; frames at or below it are never sent again.
	sent := last

	// replay sends every delivery above sent up to upto (0: to the end).
	replay := func(upto int64) bool {
		for {
			ds, err := c.hub.history.DeliveriesAfter(ctx, c.user, sent, replayPage)
			if err != nil {
				c.hub.cfg.Logger.Warn("websocket: replaying deliveries", "err", err)
				c.stop(websocket.CloseInternalServerErr, "history unavailable; retry")
				return false
			}
			for _, d := range ds {
				if upto > 0 && d.Seq > upto {
					return true
				}
				if !write(alertFrame(d)) {
					return false
				}
				sent = d.Seq
			}
			if len(ds) < replayPage {
				return true
			}
		}
	}

	ping := time.NewTicker(c.hub.cfg.PingInterval)
	defer ping.Stop()
	for {
		select {
		case <-c.done:
			if c.closeCode != websocket.CloseAbnormalClosure {
				_ = c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(c.closeCode, c.closeText), time.Now().Add(time.Second))
			}
			return
		case after := <-c.resume:
			// A client cannot claim more than exists: that would skip
			// deliveries still to come.
			if latest, err := c.hub.history.LastSeq(ctx, c.user); err == nil && after > latest {
				after = latest
			}
			sent = max(after, 0)
			if !replay(0) {
				return
			}
		case d := <-c.queue:
			if d.Seq <= sent {
				continue
			}
			if d.Seq > sent+1 {
				// Deliveries committed by other partitions can reach the hub
				// out of order; fill the gap from the durable record so the
				// client sees every sequence once, in order.
				if !replay(d.Seq) {
					return
				}
				continue
			}
			if !write(alertFrame(d)) {
				return
			}
			sent = d.Seq
			if !d.EventTime.IsZero() {
				c.hub.latency.Observe(time.Since(d.EventTime).Seconds())
			}
		case b := <-c.replies:
			if !write(b) {
				return
			}
		case <-ping.C:
			if err := c.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.hub.cfg.WriteTimeout)); err != nil {
				c.stop(websocket.CloseAbnormalClosure, "")
			}
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
		// Only the newest resume matters.
		select {
		case <-c.resume:
		default:
		}
		c.resume <- f.After
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
