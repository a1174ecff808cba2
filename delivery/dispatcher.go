package delivery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/loop"
)

// Store is the channel outbox as the dispatcher uses it. Every mark
// applies only while the delivery is pending at the attempt claimed, so a
// dispatcher that lost its lease cannot overwrite a newer outcome.
type Store interface {
	// ClaimDeliveries takes up to limit due deliveries of enabled,
	// unpaused channels, counts an attempt on each and makes each due
	// again after lease (in case this dispatcher dies), skipping rows
	// another dispatcher is claiming.
	ClaimDeliveries(ctx context.Context, limit int, lease time.Duration) ([]dowser.ChannelDelivery, error)
	// MarkSent records the receiver's acceptance.
	MarkSent(ctx context.Context, id string, attempt, status int) error
	// MarkRetry records a failed attempt and when the next is due.
	MarkRetry(ctx context.Context, id string, attempt, status int, reason string, next time.Time) error
	// MarkFailed records that the delivery will not be sent and counts it
	// against its channel, pausing the channel at the pauseAfter-th failed
	// delivery in a row; paused reports whether this mark paused it.
	MarkFailed(ctx context.Context, id string, attempt, status int, reason string, pauseAfter int) (paused bool, err error)
}

// Config configures a Dispatcher. Zero values take the defaults named.
type Config struct {
	Store Store
	// Timeout bounds one attempt, connection to response: 10 s.
	Timeout time.Duration
	// Lease is how long a claimed delivery stays this dispatcher's before
	// another may take it: 3 × Timeout, at least 30 s.
	Lease time.Duration
	// MaxAttempts is how many attempts a delivery gets: 10.
	MaxAttempts int
	// InitialInterval and MaxInterval shape the backoff between attempts
	// (doubling, with ±50 % jitter): 1 s and 10 min.
	InitialInterval, MaxInterval time.Duration
	// PauseAfter failed deliveries in a row pause a channel: 5.
	PauseAfter int
	// Batch is how many deliveries one claim takes: 64; Workers how many
	// are sent at once: 8.
	Batch, Workers int
	// Poll is how often an idle dispatcher looks for due deliveries: 500 ms.
	Poll time.Duration
	// PanelURL, when set, is linked from chat messages and mails ("Open
	// in Dowser").
	PanelURL string
	// SMTP sends e-mail channels' deliveries.
	SMTP SMTP
	// Links, when set, adds one-click links (acknowledge, snooze,
	// feedback) to chat messages and mails.
	Links Linker
	// Journey, when set, adds a summary of the alert's account's (or
	// person's) recent journey to chat messages, urgent mails and webhook
	// bodies: read at send time, within JourneyTimeout (2 s), over the last
	// JourneyWindow (7 days). Nil (the journey off) leaves it out.
	Journey        JourneyReader
	JourneyTimeout time.Duration
	JourneyWindow  time.Duration
	// Client sends the requests; nil is a client that follows no
	// redirects.
	Client     *http.Client
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

func (c *Config) defaults() {
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Lease <= 0 {
		c.Lease = max(3*c.Timeout, 30*time.Second)
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 10
	}
	if c.InitialInterval <= 0 {
		c.InitialInterval = time.Second
	}
	if c.MaxInterval <= 0 {
		c.MaxInterval = 10 * time.Minute
	}
	if c.PauseAfter <= 0 {
		c.PauseAfter = 5
	}
	if c.Batch <= 0 {
		c.Batch = 64
	}
	if c.Workers <= 0 {
		c.Workers = 8
	}
	if c.Poll <= 0 {
		c.Poll = 500 * time.Millisecond
	}
	if c.JourneyTimeout <= 0 {
		c.JourneyTimeout = 2 * time.Second
	}
	if c.JourneyWindow <= 0 {
		c.JourneyWindow = 7 * 24 * time.Hour
	}
	if c.Client == nil {
		// A redirect would turn the POST into a GET: the receiver's URL
		// should be the final one, so a 3xx is a refusal.
		c.Client = &http.Client{CheckRedirect: noRedirects}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Dispatcher sends the channel outbox's due deliveries.
type Dispatcher struct {
	cfg     Config
	metrics *metrics
	loop    *loop.Loop
}

// New returns a dispatcher over cfg.Store, its metrics registered with
// cfg.Registerer (when set).
func New(cfg Config) (*Dispatcher, error) {
	if cfg.Store == nil {
		return nil, errors.New("delivery: no store")
	}
	if cfg.Lease > 0 && cfg.Timeout > 0 && cfg.Lease <= cfg.Timeout {
		return nil, fmt.Errorf("delivery: lease %v must exceed the attempt timeout %v, or a slow attempt is sent twice at once", cfg.Lease, cfg.Timeout)
	}
	cfg.defaults()
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	l, err := loop.New(loop.Config{Name: "deliveries", What: "sending channel deliveries", Interval: cfg.Poll, Batch: cfg.Batch,
		Logger: cfg.Logger, Registerer: cfg.Registerer})
	if err != nil {
		return nil, err
	}
	return &Dispatcher{cfg: cfg, metrics: m, loop: l}, nil
}

// Run sends due deliveries until ctx ends: a round every Poll, at once
// again after a full batch. A round that fails (the store) is logged,
// counted and tried again after a backoff (loop.Loop.Run); a delivery
// that cannot be sent for good is marked failed and does not fail it.
func (d *Dispatcher) Run(ctx context.Context) error {
	return d.loop.Run(ctx, d.Round)
}

// Failing words the dispatcher's failed rounds in a row, for /readyz; ""
// while its latest round succeeded.
func (d *Dispatcher) Failing() string { return d.loop.Failing() }

// Round claims one batch of due deliveries, sends them and records the
// outcomes; it returns how many it claimed.
func (d *Dispatcher) Round(ctx context.Context) (int, error) {
	batch, err := d.cfg.Store.ClaimDeliveries(ctx, d.cfg.Batch, d.cfg.Lease)
	if err != nil {
		return 0, err
	}
	sem := make(chan struct{}, d.cfg.Workers)
	var wg sync.WaitGroup
	errs := make([]error, len(batch))
	for i := range batch {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = d.deliver(ctx, &batch[i])
		})
	}
	wg.Wait()
	return len(batch), errors.Join(errs...)
}

// deliver makes one attempt of del and records its outcome.
func (d *Dispatcher) deliver(ctx context.Context, del *dowser.ChannelDelivery) error {
	kind := string(del.Channel.Kind)
	var status int
	var retryAfter time.Duration
	var err error
	var outcome Outcome
	switch {
	case del.Unreadable != "":
		// No attempt can send it: failed (and counted against its
		// channel) like a refusal, so that the other deliveries go on.
		err, outcome = &permanentError{errors.New(del.Unreadable)}, Permanent
		d.loop.SetAside("channel delivery", del.ID, del.Unreadable)
	case del.Channel.Kind == dowser.ChannelEmail:
		status, err = d.sendEmail(ctx, del)
		outcome = classifySMTP(err)
	default:
		status, retryAfter, err = d.send(ctx, del)
		outcome = Classify(status, err)
	}
	// Marks outlive a shutdown: the attempt happened.
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if ctx.Err() != nil && err != nil {
		// Stopped mid-attempt: due again at once, for whichever instance.
		return d.cfg.Store.MarkRetry(mctx, del.ID, del.Attempts, status, "interrupted by shutdown", time.Now())
	}
	switch {
	case outcome == Sent:
		// Latency first: a scrape that sees a delivery sent sees its latency.
		d.metrics.latency.WithLabelValues(kind).Observe(time.Since(del.CreatedAt).Seconds())
		d.metrics.sent.WithLabelValues(kind).Inc()
		return d.cfg.Store.MarkSent(mctx, del.ID, del.Attempts, status)
	case outcome == Retry && del.Attempts < d.cfg.MaxAttempts:
		d.metrics.retried.WithLabelValues(kind).Inc()
		wait := max(d.Backoff(del.Attempts), min(retryAfter, d.cfg.MaxInterval))
		return d.cfg.Store.MarkRetry(mctx, del.ID, del.Attempts, status, reason(status, err), time.Now().Add(wait))
	default:
		why := reason(status, err)
		if outcome == Retry {
			why = fmt.Sprintf("gave up after %d attempts: %s", del.Attempts, why)
		}
		d.metrics.failed.WithLabelValues(kind).Inc()
		paused, merr := d.cfg.Store.MarkFailed(mctx, del.ID, del.Attempts, status, why, d.cfg.PauseAfter)
		if paused {
			d.metrics.paused.WithLabelValues(kind).Inc()
			d.cfg.Logger.Warn("channel paused: its deliveries keep failing", "channel", del.ChannelID, "user", del.UserID, "kind", kind, "last", why)
		}
		return merr
	}
}

// send makes the request of one attempt; it returns the response status
// (0 when there was none) and the wait a 429 or 503 asked for.
func (d *Dispatcher) send(ctx context.Context, del *dowser.ChannelDelivery) (status int, retryAfter time.Duration, err error) {
	if del.Channel.Kind == dowser.ChannelCRM {
		return d.sendCRM(ctx, del) // crm.go
	}
	links, err := d.linksFor(del.AlertID, del.UserID)
	if err != nil {
		return 0, 0, err
	}
	body, err := Payload(del, d.cfg.PanelURL, d.journeyFor(ctx, del), links...)
	if err != nil {
		return 0, 0, &permanentError{err}
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, del.Channel.Target, bytes.NewReader(body))
	if err != nil {
		return 0, 0, &permanentError{fmt.Errorf("building the request: %w", err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Dowser-Delivery/1")
	req.Header.Set(HeaderDeliveryID, del.ID)
	req.Header.Set(HeaderAttempt, strconv.Itoa(del.Attempts))
	if del.Channel.Kind == dowser.ChannelWebhook {
		req.Header.Set(HeaderSignature, Sign(time.Now(), body, del.Channel.Secret, del.Channel.PreviousSecret))
	}
	resp, err := d.cfg.Client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	// Drained (a little) so the connection is reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		retryAfter = time.Duration(s) * time.Second
	}
	return resp.StatusCode, retryAfter, nil
}

// Backoff is the wait after the attempt-th failed attempt: InitialInterval
// doubled per attempt up to MaxInterval, each with ±50 % jitter so that
// deliveries failing together do not retry together.
func (d *Dispatcher) Backoff(attempt int) time.Duration {
	b := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(d.cfg.InitialInterval),
		backoff.WithMaxInterval(d.cfg.MaxInterval),
		backoff.WithRandomizationFactor(0.5),
		backoff.WithMultiplier(2),
		backoff.WithMaxElapsedTime(0),
	)
	var wait time.Duration
	for range max(attempt, 1) {
		wait = b.NextBackOff()
	}
	return wait
}

// Outcome is what an attempt's result means for its delivery.
type Outcome int

// The outcomes of an attempt.
const (
	// Sent: the receiver accepted it (2xx).
	Sent Outcome = iota
	// Retry: worth another attempt (no response, a timeout, 408, 429, 5xx).
	Retry
	// Permanent: the receiver refused what no retry changes (another 4xx,
	// a redirect, a payload or URL Dowser cannot send).
	Permanent
)

// Classify maps an attempt's response status (0 without a response) and
// error to its outcome.
func Classify(status int, err error) Outcome {
	var pe *permanentError
	var be *BlockedTargetError
	switch {
	case errors.As(err, &pe), errors.As(err, &be):
		return Permanent
	case err != nil:
		return Retry
	case status >= 200 && status < 300:
		return Sent
	case status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500:
		return Retry
	}
	return Permanent
}

// reason is what the delivery records of a failed attempt.
func reason(status int, err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		// Its message repeats the URL, and a chat webhook's URL is its
		// credential: it must not reach logs.
		err = ue.Err
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "no response within the attempt timeout"
	case err != nil:
		return err.Error()
	case status >= 300 && status < 400:
		return fmt.Sprintf("HTTP %d: redirects are not followed; set the final URL", status)
	}
	return fmt.Sprintf("HTTP %d %s", status, http.StatusText(status))
}

// permanentError is a failure before the request that no retry changes.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }
