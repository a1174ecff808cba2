package notify

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/schema"
)

// maxReplies bounds the answers to client frames waiting to be written.
const maxReplies = 16

// actionTimeout bounds the storage of one seen, ack or feedback.
const actionTimeout = 10 * time.Second

// client is one websocket connection. Frames to send wait in its fields
// under mu; at most one goroutine at a time, the one that set writing,
// runs flush and writes to conn (besides the reader's control frames,
// which gorilla allows concurrently). Likewise the actions to store wait
// under mu, and at most one goroutine, the one that set acting, runs act
// and stores them, so that they are stored and answered in order.
type client struct {
	hub    *Hub
	user   string
	name   string // unique among every instance's connections: the From of its verdicts
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
	actions   []action          // actions waiting for storage; nil when empty
	acting    bool              // a goroutine is in act
	room      chan struct{}     // closed when replies shrink; nil when nobody waits
	stopped   bool
	recheck   *time.Timer // checks cred every RecheckInterval; nil without cred
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

// tell queues news (another panel's verdict) for the writer. News is
// dropped rather than wait behind a full queue of replies: the panel
// lists again when it reconnects.
func (c *client) tell(frame []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped || len(c.replies) >= maxReplies {
		return
	}
	c.replies = append(c.replies, frame)
	c.kick()
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
	c.queue, c.replies, c.actions = nil, nil, nil
	c.kick()
	c.wake()
	c.mu.Unlock()
	c.cancel() // a history read or an action in progress need not finish
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
			c.wake()
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

// checkCredential closes the connection with CloseSessionRevoked if its
// credential no longer holds. A check that fails (storage unreachable)
// leaves it open: the next check decides.
func (c *client) checkCredential(ctx context.Context) {
	ok, err := c.cred(ctx)
	if err != nil {
		c.hub.cfg.Logger.Warn("websocket: re-checking credential", "user", c.user, "err", err)
		return
	}
	if !ok {
		c.stop(CloseSessionRevoked, "session revoked")
	}
}

// recheckDue runs on the recheck timer's goroutine.
func (c *client) recheckDue() {
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	c.checkCredential(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx.Err() == nil {
		c.recheck.Reset(c.hub.cfg.RecheckInterval)
	}
}

// finish sends the close frame, closes the connection and forgets it.
func (c *client) finish(code int, text string) {
	c.ping.Stop()
	c.cancel() // also ends the rechecks: recheckDue resets only while ctx lives
	c.mu.Lock()
	if c.recheck != nil {
		c.recheck.Stop()
	}
	c.mu.Unlock()
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
	if !c.write(alertFrame(d, personIn(c.hub.people(c.ctx, []schema.Delivery{d}), d))) {
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
		people := c.hub.people(c.ctx, ds)
		for _, d := range ds {
			if upto > 0 && d.Seq > upto {
				return
			}
			if !c.write(alertFrame(d, personIn(people, d))) {
				return
			}
			c.sent = d.Seq
		}
		if len(ds) < replayPage {
			return
		}
	}
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

// handle answers a client frame that is malformed or asks for nothing
// stored at once, and passes the others on: a resume to the writer, an
// action to the worker. It never waits for storage.
func (c *client) handle(data []byte) {
	var f clientFrame
	if err := json.Unmarshal(data, &f); err != nil {
		c.reply(encode(frame{Op: "error", Error: "frame is not a JSON object: " + err.Error()}))
		return
	}
	switch f.Op {
	case "resume":
		if f.After < 0 {
			c.reply(encode(frame{Op: "error", Error: "resume: after must be >= 0"}))
			return
		}
		c.requestResume(f.After)
	case "seen", "ack":
		if f.ID == "" {
			c.reply(encode(frame{Op: "error", Error: f.Op + ": id is required"}))
			return
		}
		c.submit(action{op: f.Op, id: f.ID})
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
		c.submit(action{op: f.Op, id: f.ID, verdict: f.Verdict, note: f.Note})
	default:
		c.reply(encode(frame{Op: "error", Error: "unknown op " + strconv.Quote(f.Op) + "; expected resume, seen, ack or feedback"}))
	}
}

// action is a client frame to store: a seen, an ack or a feedback.
type action struct {
	op, id, verdict, note string
}

// submit queues an action for the worker, starting it unless it runs. An
// action beyond a full queue is not stored: it is answered at once with an
// error, and the client sends it again.
func (c *client) submit(a action) {
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return // nobody would hear the answer
	}
	if n := len(c.actions); n >= c.hub.cfg.ActionQueueSize {
		c.mu.Unlock()
		c.reply(encode(frame{Op: "error", ID: a.id, Error: a.op + ": busy, " + strconv.Itoa(n) + " actions are waiting; retry"}))
		return
	}
	c.actions = append(c.actions, a)
	if !c.acting {
		c.acting = true
		go c.act()
	}
	c.mu.Unlock()
}

// act stores the queued actions one at a time, in order, and hands each
// answer to the writer. It returns once the queue is empty, and for good
// once the connection stops: the context of a storage call ends with the
// connection, so a hung call does not outlive it.
func (c *client) act() {
	for {
		c.mu.Lock()
		if c.stopped || len(c.actions) == 0 {
			c.acting = false
			c.mu.Unlock()
			return
		}
		a := c.actions[0]
		if len(c.actions) == 1 {
			c.actions = nil // an idle connection holds no queue
		} else {
			c.actions[0] = action{}
			c.actions = c.actions[1:]
		}
		c.mu.Unlock()
		c.answer(c.apply(a))
	}
}

// apply stores one action and returns the answer for the client.
func (c *client) apply(a action) []byte {
	ctx, cancel := context.WithTimeout(c.ctx, actionTimeout)
	defer cancel()
	var err error
	var ok frame
	switch a.op {
	case "seen":
		err = c.hub.actions.Seen(ctx, c.user, a.id)
		ok = frame{Op: "seen_ok", ID: a.id}
	case "ack":
		err = c.hub.actions.Ack(ctx, c.user, a.id, c.name)
		ok = frame{Op: "acked", ID: a.id}
	default:
		err = c.hub.actions.Feedback(ctx, c.user, a.id, a.verdict, a.note, c.name)
		ok = frame{Op: "feedback_saved", ID: a.id, Verdict: a.verdict}
	}
	if err != nil {
		return encode(frame{Op: "error", ID: a.id, Error: a.op + ": " + actionError(err)})
	}
	return encode(ok)
}

// answer hands the worker's answer to the writer. Unlike reply it waits
// while maxReplies answers wait to be written: storage faster than the
// socket slows the worker down rather than close a client that reads
// its answers. A client that reads nothing is ended by its write
// deadline, which stops the connection and wakes the worker.
func (c *client) answer(b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.replies) >= maxReplies && !c.stopped {
		if c.room == nil {
			c.room = make(chan struct{})
		}
		room := c.room
		c.mu.Unlock()
		<-room
		c.mu.Lock()
	}
	if c.stopped {
		return
	}
	c.replies = append(c.replies, b)
	c.kick()
}

// wake lets a worker waiting in answer look at the replies again. c.mu
// must be held.
func (c *client) wake() {
	if c.room != nil {
		close(c.room)
		c.room = nil
	}
}

// actionError is what the client is told of a failed action: whether the
// alert is not theirs, or to retry; never the storage's own words.
func actionError(err error) string {
	if errors.Is(err, dowser.ErrNotFound) {
		return "no such alert for this user"
	}
	return "could not be saved; retry"
}
