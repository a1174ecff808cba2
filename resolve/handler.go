package resolve

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/dowserhq/dowser/kafka"
	"github.com/dowserhq/dowser/schema"
)

// maxIDBytes is the longest id the graph holds (an index entry's limit,
// as postgres.MaxLinkedIDBytes); an event with a longer one is passed on
// unresolved rather than refused for ever.
const maxIDBytes = 1024

// handler resolves one source partition's events, in offset order.
type handler struct {
	r         *Resolver
	partition int
	out       *outbox
}

var _ kafka.PartitionHandler = (*handler)(nil)

// Handle passes ev on as its resolved subject (see the package doc). An
// anonymous event is queued as it is and resolved when the queue is sent,
// many in one round trip. It queues only once nothing else can fail, so
// that a retry never queues the event twice.
func (h *handler) Handle(ctx context.Context, ev *schema.Event) error {
	if h.out.full(h.r.cfg.MaxPending) {
		if err := h.out.flush(ctx); err != nil {
			return err
		}
	}
	c := ev.Customer
	anon := c.AnonymousID
	if h.r.cfg.Store == nil || anon == "" || anon == c.ID || !h.tracked(ev) || !storable(anon) || !storable(c.ID) {
		return h.pass(ev, outcomePassed)
	}
	if c.ID != "" {
		return h.link(ctx, ev)
	}
	msg, err := encode(ev)
	if err != nil {
		return err
	}
	h.out.add(item{msg: msg, anon: anon, id: ev.ID, at: ev.Time})
	return nil
}

// link handles an event that carries both a customer and an anonymous id.
// When it links the anonymous id anew, the visitor's remembered events
// and those still queued here go out as the customer's, oldest first, then
// the event itself, in one produce acknowledged before the link is
// written (one PostgreSQL commit); otherwise the event is queued as it
// is. The rest of the queue waits for the link, then follows it.
func (h *handler) link(ctx context.Context, ev *schema.Event) error {
	c := ev.Customer
	linking, err := encode(ev)
	if err != nil {
		return err
	}
	o := h.out
	o.sending.Lock()
	defer o.sending.Unlock()
	since := timeBefore(ev.Time, h.r.cfg.Horizon())
	// What is queued goes first, in the same produce, when it needs no
	// PostgreSQL: messages ready to go, and the visitor's own anonymous
	// events, not remembered but re-emitted from here. Other visitors'
	// anonymous events still to resolve wait for the link and follow it.
	queued := o.take()
	var ready []kafka.Message
	var mine, others []item
	for _, it := range queued {
		switch it.anon {
		case "":
			ready = append(ready, it.msg)
		case c.AnonymousID:
			mine = append(mine, it)
		default:
			others = append(others, it)
		}
	}
	var reemitted int
	sent := false
	changed, err := h.r.cfg.Store.LinkAnonymous(ctx, c.AnonymousID, c.ID, c.AccountID, c.Lifecycle, since, func(events [][]byte) error {
		msgs := make([]kafka.Message, 0, len(ready)+len(events)+2*len(mine)+1)
		msgs = append(msgs, ready...)
		// The visitor's queued events go as they came too, as they would
		// have had they been sent before the login: the visitor's own
		// subject counts them.
		for _, it := range mine {
			msgs = append(msgs, it.msg)
		}
		first := len(msgs)
		for _, data := range events {
			m, ok, err := h.asCustomer(data, c, since)
			if err != nil {
				return err
			}
			if ok {
				msgs = append(msgs, m)
			}
		}
		for _, it := range mine {
			m, ok, err := h.asCustomer(it.msg.Value, c, since)
			if err != nil {
				return err
			}
			if ok {
				msgs = append(msgs, m)
			}
		}
		reemitted = len(msgs) - first
		if err := o.r.cfg.Out.Produce(ctx, append(msgs, linking)...); err != nil {
			return fmt.Errorf("passing a link's %d events on to the resolved topic: %w", len(msgs)+1, err)
		}
		sent = true
		return nil
	})
	if sent && err == nil {
		o.putBack(others)
	} else {
		o.putBack(queued) // not linked anew, or failed: as they were
	}
	if err != nil {
		return err
	}
	if !changed {
		o.add(item{msg: linking})
		h.r.metrics.events.WithLabelValues(outcomePassed).Inc()
		return nil
	}
	h.r.metrics.events.WithLabelValues(outcomeLinked).Inc()
	h.r.metrics.reemitted.Add(float64(reemitted))
	return nil
}

// asCustomer is an anonymous event, as this stage encoded it, made the
// customer's of c; ok is false for an event dated before since, or one
// that cannot be read (logged).
func (h *handler) asCustomer(data []byte, c schema.Customer, since time.Time) (m kafka.Message, ok bool, err error) {
	var old schema.Event
	if err := json.Unmarshal(data, &old); err != nil {
		// Written by this stage: unreadable only if corrupted.
		h.r.cfg.Logger.Error("remembered anonymous event unreadable; not re-emitted", "partition", h.partition, "err", err)
		return kafka.Message{}, false, nil
	}
	if old.Time.Before(since) {
		return kafka.Message{}, false, nil
	}
	asCustomer(&old.Customer, c.ID, c.AccountID, c.Lifecycle)
	m, err = encode(&old)
	return m, err == nil, err
}

// Checkpoint makes everything handed on so far acknowledged: only then
// may the group's offset move to nextOffset.
func (h *handler) Checkpoint(ctx context.Context, nextOffset int64, final bool) (int64, error) {
	if err := h.out.flush(ctx); err != nil {
		return -1, err
	}
	return nextOffset, nil
}

func (h *handler) pass(ev *schema.Event, outcome string) error {
	m, err := encode(ev)
	if err != nil {
		return err
	}
	h.out.add(item{msg: m})
	h.r.metrics.events.WithLabelValues(outcome).Inc()
	return nil
}

func (h *handler) tracked(ev *schema.Event) bool {
	dnt := h.r.cfg.DoNotTrack
	if dnt == nil {
		return true
	}
	c := ev.Customer
	return !dnt("customer", c.ID) && !dnt("customer", c.AnonymousID) && !dnt("account", c.AccountID)
}

// asCustomer makes an anonymous visitor's customer that of its link: the
// anonymous id stays (erasure and the detector's own links follow it),
// and the link's account and lifecycle fill what the event lacks.
func asCustomer(c *schema.Customer, customer, account, lifecycle string) {
	c.ID = customer
	if c.AccountID == "" {
		c.AccountID = account
	}
	if c.Lifecycle == "" {
		c.Lifecycle = lifecycle
	}
}

func storable(id string) bool {
	return len(id) <= maxIDBytes && !strings.ContainsRune(id, 0) && utf8.ValidString(id)
}

// timeBefore is t minus d, clamped at the earliest time int64 nanoseconds
// hold rather than wrapping.
func timeBefore(t time.Time, d time.Duration) time.Time {
	earliest := time.Unix(0, -1<<63)
	if t.Sub(earliest) <= d {
		return earliest
	}
	return t.Add(-d)
}

// encode is ev as a message of the resolved topic: Dowser's envelope,
// keyed by account, else customer, else anonymous id. HTML characters
// are not escaped, so that an event stays about its size.
func encode(ev *schema.Event) (kafka.Message, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ev); err != nil {
		return kafka.Message{}, fmt.Errorf("%w: encoding event for the resolved topic: %w", kafka.ErrPermanent, err)
	}
	return kafka.Message{Key: []byte(kafka.EventKey(ev)), Value: bytes.TrimSuffix(b.Bytes(), []byte("\n"))}, nil
}

// item is a message queued in an outbox; with anon set, an anonymous
// event still to resolve (its message is the event as it came, keyed by
// anon).
type item struct {
	msg  kafka.Message
	anon string
	id   string
	at   time.Time
}

// maxResolveBatch bounds the anonymous ids one round trip locks: advisory
// locks take slots of PostgreSQL's shared lock table (64 per connection by
// default).
const maxResolveBatch = 200

// outbox holds a partition's messages until the broker acknowledged them.
// A background loop sends what is queued as soon as it can; flush sends
// the rest and returns once everything queued before it is acknowledged.
// Sending first resolves the queued anonymous events, a batch at a time.
// Sends are serialized, and a failed batch goes back to the front, so
// messages go out in the order queued (a retry may repeat some: the
// detector drops repeated event ids).
type outbox struct {
	r         *Resolver
	topic     string // the source topic, for logs; "" when unnamed
	partition int

	sending sync.Mutex // held for each send, in order
	mu      sync.Mutex
	queued  []item
	wake    chan struct{}
}

func (o *outbox) add(it item) {
	o.mu.Lock()
	o.queued = append(o.queued, it)
	o.mu.Unlock()
	o.poke()
}

func (o *outbox) full(limit int) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.queued) >= limit
}

// flush sends everything queued and returns once it is acknowledged.
func (o *outbox) flush(ctx context.Context) error {
	o.sending.Lock()
	defer o.sending.Unlock()
	return o.send(ctx)
}

// take empties the queue and returns what it held; the caller holds
// sending, and puts back what it could not send.
func (o *outbox) take() []item {
	o.mu.Lock()
	defer o.mu.Unlock()
	q := o.queued
	o.queued = nil
	return q
}

// putBack puts items taken and not sent back at the front of the queue.
func (o *outbox) putBack(items []item) {
	if len(items) == 0 {
		return
	}
	o.mu.Lock()
	o.queued = append(items, o.queued...)
	o.mu.Unlock()
	o.poke()
}

// send resolves and sends the queue; the caller holds sending.
func (o *outbox) send(ctx context.Context) error {
	batch := o.take()
	if len(batch) == 0 {
		return nil
	}
	err := o.resolve(ctx, batch)
	if err == nil {
		msgs := make([]kafka.Message, len(batch))
		for i := range batch {
			msgs[i] = batch[i].msg
		}
		if err = o.r.cfg.Out.Produce(ctx, msgs...); err != nil {
			err = fmt.Errorf("passing %d events on to the resolved topic: %w", len(batch), err)
		}
	}
	if err != nil {
		o.putBack(batch)
	}
	return err
}

// resolve resolves the anonymous events of batch in place, at most
// maxResolveBatch a round trip: a linked visitor's becomes the customer's,
// the others are remembered as they are.
func (o *outbox) resolve(ctx context.Context, batch []item) error {
	var idx []int
	for i := range batch {
		if batch[i].anon != "" {
			idx = append(idx, i)
		}
	}
	for len(idx) > 0 {
		chunk := idx[:min(len(idx), maxResolveBatch)]
		idx = idx[len(chunk):]
		anons, ids := make([]string, len(chunk)), make([]string, len(chunk))
		times, events := make([]time.Time, len(chunk)), make([][]byte, len(chunk))
		for j, i := range chunk {
			anons[j], ids[j], times[j], events[j] = batch[i].anon, batch[i].id, batch[i].at, batch[i].msg.Value
		}
		customers, accounts, lifecycles, err := o.r.cfg.Store.RememberAnonymous(ctx, anons, ids, times, events)
		if err != nil {
			return err
		}
		for j, i := range chunk {
			it := &batch[i]
			if customers[j] == "" {
				it.anon = ""
				o.r.metrics.events.WithLabelValues(outcomeRemembered).Inc()
				continue
			}
			var ev schema.Event
			if err := json.Unmarshal(it.msg.Value, &ev); err != nil {
				return fmt.Errorf("decoding an event this stage encoded: %w", err)
			}
			asCustomer(&ev.Customer, customers[j], accounts[j], lifecycles[j])
			m, err := encode(&ev)
			if err != nil {
				return err
			}
			it.msg, it.anon = m, ""
			o.r.metrics.events.WithLabelValues(outcomeResolved).Inc()
		}
	}
	return nil
}

// run sends what is queued as it comes, until ctx ends; a failure waits a
// little (the next flush, from a checkpoint, retries too).
func (o *outbox) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-o.wake:
		}
		if err := o.flush(ctx); err != nil && ctx.Err() == nil {
			o.r.cfg.Logger.Warn("passing events on to the resolved topic failed; retrying", "source_topic", o.topic, "partition", o.partition, "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(250 * time.Millisecond):
			}
			o.poke()
		}
	}
}

// poke wakes the loop.
func (o *outbox) poke() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}
