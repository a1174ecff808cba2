package delivery_test

import (
	"context"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/delivery"
	"github.com/dowserhq/dowser/links"
	"github.com/dowserhq/dowser/postgres"
	"github.com/dowserhq/dowser/postgres/pgtest"
	"github.com/dowserhq/dowser/schema"
)

// TestLatestSlotSendsEachTimeOnceAcrossDST walks the clock minute by
// minute over both of Madrid's daylight saving changes of 2026 and counts
// the digest times that come: each time of each day once, the 02:30 that
// the spring change skips and the one the autumn change repeats included.
func TestLatestSlotSendsEachTimeOnceAcrossDST(t *testing.T) {
	madrid, err := time.LoadLocation("Europe/Madrid")
	if err != nil {
		t.Fatal(err)
	}
	times := []string{"02:30", "09:00"}
	for _, day := range []time.Time{
		time.Date(2026, 3, 29, 0, 0, 0, 0, madrid),  // 02:00 → 03:00
		time.Date(2026, 10, 25, 0, 0, 0, 0, madrid), // 03:00 → 02:00
	} {
		var last time.Time
		var sent []time.Time
		for now := day.Add(-time.Minute); now.Before(day.Add(25 * time.Hour)); now = now.Add(time.Minute) {
			slot, ok := delivery.LatestSlot(times, madrid, now)
			if ok && slot.After(last) {
				if !last.IsZero() {
					sent = append(sent, slot)
				}
				last = slot
			}
		}
		if len(sent) != 2 {
			t.Errorf("%s: digest times came %d times %v, want twice (02:30 and 09:00 once each)", day.Format("2006-01-02"), len(sent), sent)
			continue
		}
		if got := sent[1].In(madrid).Format("15:04"); got != "09:00" {
			t.Errorf("%s: second digest at %s, want 09:00", day.Format("2006-01-02"), got)
		}
	}
	// Before the day's first time, the latest is yesterday's last.
	slot, _ := delivery.LatestSlot(times, madrid, time.Date(2026, 12, 2, 1, 0, 0, 0, madrid))
	if want := time.Date(2026, 12, 1, 9, 0, 0, 0, madrid); !slot.Equal(want) {
		t.Errorf("LatestSlot at 01:00 = %v, want %v", slot, want)
	}
}

// mailbox is a real SMTP server on 127.0.0.1 keeping what it accepts.
type mailbox struct {
	mu       sync.Mutex
	messages []mailed
}

type mailed struct {
	header netmail.Header
	body   string
}

func startMailbox(t *testing.T) (*mailbox, string) {
	t.Helper()
	mb := &mailbox{}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) { return &mailSession{mb: mb}, nil }))
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 30*time.Second, 30*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return mb, ln.Addr().String()
}

func (mb *mailbox) all() []mailed {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return append([]mailed(nil), mb.messages...)
}

type mailSession struct{ mb *mailbox }

func (s *mailSession) Reset()                                 {}
func (s *mailSession) Logout() error                          { return nil }
func (s *mailSession) Mail(string, *gosmtp.MailOptions) error { return nil }
func (s *mailSession) Rcpt(string, *gosmtp.RcptOptions) error { return nil }
func (s *mailSession) Data(r io.Reader) error {
	m, err := netmail.ReadMessage(r)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(m.Body)
	if err != nil {
		return err
	}
	s.mb.mu.Lock()
	defer s.mb.mu.Unlock()
	s.mb.messages = append(s.mb.messages, mailed{header: m.Header, body: string(body)})
	return nil
}

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// nextSlot is the first digest time after from.
func nextSlot(t *testing.T, times []string, loc *time.Location, from time.Time) time.Time {
	t.Helper()
	for now := from.Truncate(time.Minute).Add(time.Minute); now.Before(from.Add(49 * time.Hour)); now = now.Add(time.Minute) {
		if s, ok := delivery.LatestSlot(times, loc, now); ok && s.After(from) {
			return s
		}
	}
	t.Fatalf("no digest time after %v", from)
	return time.Time{}
}

func digestAlert(id, priority, message string) *schema.Alert {
	return &schema.Alert{ID: id, SignalID: "pricing", SignalVersion: 1, SignalName: "Pricing research", Subject: "account:acme",
		AccountID: "acme", Priority: priority, Message: message, EventID: "evt-" + id, Time: time.Now().UTC()}
}

// TestDigestIsMailedOnceAtTheUsersTime runs two digest schedulers and two
// dispatchers over one PostgreSQL against a real SMTP server, with a
// clock the test moves: nothing is written before the user's time; at it,
// exactly one digest of the non-urgent alerts (the urgent one is mailed on
// its own), with a one-click link per action and alert; the next time's
// digest holds only what came since, and is sent once even though the
// dispatcher that first claimed it died.
func TestDigestIsMailedOnceAtTheUsersTime(t *testing.T) {
	ctx := context.Background()
	store, err := postgres.Open(ctx, pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	mb, smtpAddr := startMailbox(t)
	if err := store.People.PutUser(ctx, dowser.User{ID: "rep-ana", Name: "Ana", Role: dowser.RoleRep}, ""); err != nil {
		t.Fatal(err)
	}
	madrid, _ := time.LoadLocation("Europe/Madrid")
	times := []string{"09:00", "14:00"}
	ch, err := store.Channels.AddChannel(ctx, dowser.Channel{UserID: "rep-ana", Kind: dowser.ChannelEmail, Target: "ana@example.com", Enabled: true,
		DigestTimes: times, TimeZone: "Europe/Madrid"})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []*schema.Alert{digestAlert("al-h1", "high", "Acme: pricing viewed"), digestAlert("al-u1", "urgent", "Acme: buying now"),
		digestAlert("al-m1", "medium", "Acme: docs read")} {
		if _, err := store.Alerts.SaveAlert(ctx, a, []string{"rep-ana"}); err != nil {
			t.Fatal(err)
		}
	}

	clk := &clock{}
	signer, err := links.New(links.Config{Key: []byte("link-key-0123456789abcdef0123456789"), BaseURL: "https://dowser.example.com/"})
	if err != nil {
		t.Fatal(err)
	}
	var digesters [2]*delivery.Digester
	var dispatchers [2]*delivery.Dispatcher
	for i := range 2 {
		if digesters[i], err = delivery.NewDigester(delivery.DigestConfig{Store: store.Channels, Now: clk.Now}); err != nil {
			t.Fatal(err)
		}
		if dispatchers[i], err = delivery.New(delivery.Config{Store: store.Channels, Timeout: 5 * time.Second, Lease: 6 * time.Second,
			SMTP: delivery.SMTP{Addr: smtpAddr, From: "dowser@example.com"}, Links: signer}); err != nil {
			t.Fatal(err)
		}
	}
	// Both schedulers at once; the count of digests they wrote.
	digestRound := func() int {
		var wg sync.WaitGroup
		var n [2]int
		for i := range 2 {
			wg.Go(func() {
				var err error
				if n[i], err = digesters[i].Round(ctx); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		return n[0] + n[1]
	}
	sendRound := func() {
		var wg sync.WaitGroup
		for i := range 2 {
			wg.Go(func() {
				if _, err := dispatchers[i].Round(ctx); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}

	first := nextSlot(t, times, madrid, time.Now())
	clk.Set(first.Add(-time.Minute))
	if n := digestRound(); n != 0 {
		t.Fatalf("a minute before the user's time, %d digests written, want none", n)
	}
	sendRound()
	if got := mb.all(); len(got) != 1 || !strings.Contains(got[0].body, "al-u1") {
		t.Fatalf("before the digest time %d mails, want only the urgent alert's: %+v", len(got), got)
	}

	clk.Set(first)
	if n := digestRound(); n != 1 {
		t.Fatalf("at the user's time (%v), %d digests written by two schedulers, want 1", first.In(madrid), n)
	}
	if n := digestRound(); n != 0 {
		t.Fatalf("the same time handled again: %d more digests", n)
	}
	sendRound()
	sendRound() // a second round finds nothing left to send
	mails := mb.all()
	if len(mails) != 2 {
		t.Fatalf("%d mails after the first digest time, want 2 (urgent, digest)", len(mails))
	}
	digest := mails[1]
	subject, _ := new(mime.WordDecoder).DecodeHeader(digest.header.Get("Subject"))
	if subject != "Dowser digest: 2 alerts" || digest.header.Get("To") != "ana@example.com" {
		t.Errorf("digest subject %q to %q, want \"Dowser digest: 2 alerts\" to ana@example.com", subject, digest.header.Get("To"))
	}
	body := decodeQP(t, digest.body)
	for _, want := range []string{"al-h1", "Acme: pricing viewed", "al-m1", "Acme: docs read"} {
		if !strings.Contains(body, want) {
			t.Errorf("digest lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "al-u1") {
		t.Errorf("digest repeats the urgent alert, mailed on its own:\n%s", body)
	}
	if n := strings.Count(body, "https://dowser.example.com/"+links.Path); n != 2*len(dowser.LinkActions()) {
		t.Errorf("digest has %d one-click links, want %d (one per action and alert):\n%s", n, 2*len(dowser.LinkActions()), body)
	}
	sent, err := store.Channels.ChannelDeliveries(ctx, "rep-ana", ch.ID, dowser.DeliverySent, 10)
	if err != nil {
		t.Fatal(err)
	}
	var digestDelivery dowser.ChannelDelivery
	for _, d := range sent {
		if d.DigestID != 0 {
			digestDelivery = d
		}
	}
	if digestDelivery.ID == "" || digest.header.Get("Message-Id") != "<"+digestDelivery.ID+"@dowser>" {
		t.Errorf("digest Message-Id %q; want the id of its delivery %+v", digest.header.Get("Message-Id"), digestDelivery)
	}

	// The next time: only what came since; the dispatcher that claims it
	// first dies before sending, and another sends it after the lease.
	if _, err := store.Alerts.SaveAlert(ctx, digestAlert("al-h2", "low", "Acme: blog read"), []string{"rep-ana"}); err != nil {
		t.Fatal(err)
	}
	second := nextSlot(t, times, madrid, first)
	clk.Set(second.Add(-time.Second))
	if n := digestRound(); n != 0 {
		t.Fatalf("before the second time, %d digests", n)
	}
	clk.Set(second)
	if n := digestRound(); n != 1 {
		t.Fatalf("at the second time, %d digests, want 1", n)
	}
	claimed, err := store.Channels.ClaimDeliveries(ctx, 10, 2*time.Second)
	if err != nil || len(claimed) != 1 || claimed[0].DigestID == 0 {
		t.Fatalf("the crashing dispatcher claimed %+v, %v; want the second digest", claimed, err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for len(mb.all()) < 3 {
		if time.Now().After(deadline) {
			t.Fatal("the second digest was not sent within 60 s of its claimer's death")
		}
		sendRound()
		time.Sleep(100 * time.Millisecond) // the lease runs out on the database's clock
	}
	sendRound()
	mails = mb.all()
	if len(mails) != 3 {
		t.Fatalf("%d mails, want 3: the second digest sent once", len(mails))
	}
	body = decodeQP(t, mails[2].body)
	if !strings.Contains(body, "al-h2") || strings.Contains(body, "al-h1") || !strings.Contains(body, "1 alert ") {
		t.Errorf("second digest should hold al-h2 only:\n%s", body)
	}
	if mails[2].header.Get("Message-Id") != "<"+claimed[0].ID+"@dowser>" {
		t.Errorf("second digest's Message-Id %q, want its delivery's %s", mails[2].header.Get("Message-Id"), claimed[0].ID)
	}
}

func decodeQP(t *testing.T, s string) string {
	t.Helper()
	b, err := io.ReadAll(quotedprintableReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(string(b), "\r\n", "\n")
}

func quotedprintableReader(s string) io.Reader {
	return quotedprintable.NewReader(strings.NewReader(s))
}
