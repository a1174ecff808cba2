package resolve

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
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

// Handle passes ev on as its resolved subject (see the package doc). It
// appends to the outbox only once nothing else can fail, so that a retry
// never queues the event twice.
func (h *handler) Handle(ctx context.Context, ev *schema.Event) error {
	if h.out.full(h.r.cfg.MaxPending) {
		if err := h.out.flush(ctx); err != nil {
			return err
		}
	}
	c := ev.Customer
	anon := c.AnonymousID
	if anon == "" || anon == c.ID || !h.tracked(ev) || !storable(anon) || !storable(c.ID) {
		return h.pass(ev, outcomePassed)
	}
	if c.ID != "" {
		return h.link(ctx, ev)
	}
	msg, err := encode(ev)
	if err != nil {
		return err
	}
	customer, account, lifecycle, err := h.r.cfg.Store.RememberAnonymous(ctx, anon, ev.ID, ev.Time, msg.Value)
	if err != nil {
		return err
	}
	if customer == "" {
		h.out.add(msg)
		h.r.metrics.events.WithLabelValues(outcomeRemembered).Inc()
		return nil
	}
	// The graph's copy of the event is the consumer's to reuse: change a
	// copy of its customer.
	rev := *ev
	asCustomer(&rev.Customer, customer, account, lifecycle)
	return h.pass(&rev, outcomeResolved)
}

// link handles an event that carries both a customer and an anonymous id.
// When it links the anonymous id anew, the visitor's remembered events go
// out as the customer's, then the event itself, all acknowledged before
// the link is written; otherwise the event is passed on as it is.
func (h *handler) link(ctx context.Context, ev *schema.Event) error {
	// What this partition passed on before goes out first, so that the
	// customer's partition sees this partition's events in order.
	if err := h.out.flush(ctx); err != nil {
		return err
	}
	c := ev.Customer
	linking, err := encode(ev)
	if err != nil {
		return err
	}
	var reemitted int
	since := timeBefore(ev.Time, h.r.cfg.Horizon())
	changed, err := h.r.cfg.Store.LinkAnonymous(ctx, c.AnonymousID, c.ID, c.AccountID, c.Lifecycle, since, func(events [][]byte) error {
		msgs := make([]kafka.Message, 0, len(events)+1)
		for _, data := range events {
			var old schema.Event
			if err := json.Unmarshal(data, &old); err != nil {
				// Written by this stage: unreadable only if corrupted.
				h.r.cfg.Logger.Error("remembered anonymous event unreadable; not re-emitted", "partition", h.partition, "err", err)
				continue
			}
			asCustomer(&old.Customer, c.ID, c.AccountID, c.Lifecycle)
			m, err := encode(&old)
			if err != nil {
				return err
			}
			msgs = append(msgs, m)
		}
		reemitted = len(msgs)
		return h.out.produce(ctx, append(msgs, linking)...)
	})
	if err != nil {
		return err
	}
	if !changed {
		h.out.add(linking)
		h.r.metrics.events.WithLabelValues(outcomePassed).Inc()
		return nil
	}
	h.r.metrics.events.WithLabelValues(outcomeLinked).Inc()
	h.r.metrics.reemitted.Add(float64(reemitted))
	return nil
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
	h.out.add(m)
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

// outbox holds a partition's messages until the broker acknowledged them.
// A background loop sends what is queued as soon as it can; flush sends
// the rest and returns once everything queued before it is acknowledged.
// Sends are serialized, and a failed batch goes back to the front, so
// messages go out in the order queued (a retry may repeat some: the
// detector drops repeated event ids).
type outbox struct {
	out       Producer
	log       *slog.Logger
	partition int

	sending sync.Mutex // held for each send, in order
	mu      sync.Mutex
	queued  []kafka.Message
	wake    chan struct{}
}

func newOutbox(out Producer, log *slog.Logger, partition int) *outbox {
	return &outbox{out: out, log: log, partition: partition, wake: make(chan struct{}, 1)}
}

func (o *outbox) add(m kafka.Message) {
	o.mu.Lock()
	o.queued = append(o.queued, m)
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

// produce sends msgs after everything queued, and returns once all of
// them are acknowledged.
func (o *outbox) produce(ctx context.Context, msgs ...kafka.Message) error {
	o.sending.Lock()
	defer o.sending.Unlock()
	if err := o.send(ctx); err != nil {
		return err
	}
	return o.out.Produce(ctx, msgs...)
}

// send sends the queue; the caller holds sending.
func (o *outbox) send(ctx context.Context) error {
	o.mu.Lock()
	batch := o.queued
	o.queued = nil
	o.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	if err := o.out.Produce(ctx, batch...); err != nil {
		o.mu.Lock()
		o.queued = append(batch, o.queued...)
		o.mu.Unlock()
		return fmt.Errorf("passing %d events on to the resolved topic: %w", len(batch), err)
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
			o.log.Warn("passing events on to the resolved topic failed; retrying", "partition", o.partition, "err", err)
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
