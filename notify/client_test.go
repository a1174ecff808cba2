package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/dowserhq/dowser/schema"
)

// gatedActions is an Actions that records the calls it applies. With a
// gate, each call waits for one value on release, or for its context to
// end.
type gatedActions struct {
	started chan string   // hears "op id" as each call starts
	release chan struct{} // nil: calls finish at once
	ended   chan error    // hears the context error of a call that gave up

	mu      sync.Mutex
	applied []string
}

func newGatedActions(gated bool) *gatedActions {
	g := &gatedActions{started: make(chan string, 100), ended: make(chan error, 100)}
	if gated {
		g.release = make(chan struct{}, 100)
	}
	return g
}

func (g *gatedActions) call(ctx context.Context, op, id string) error {
	g.started <- op + " " + id
	if g.release != nil {
		select {
		case <-g.release:
		case <-ctx.Done():
			g.ended <- ctx.Err()
			return ctx.Err()
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.applied = append(g.applied, op+" "+id)
	return nil
}

func (g *gatedActions) Seen(ctx context.Context, _, id string) error   { return g.call(ctx, "seen", id) }
func (g *gatedActions) Ack(ctx context.Context, _, id, _ string) error { return g.call(ctx, "ack", id) }
func (g *gatedActions) Feedback(ctx context.Context, _, id, _, _, _ string) error {
	return g.call(ctx, "feedback", id)
}

func (g *gatedActions) appliedCalls() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.applied)
}

// awaitStart waits for the call want to start.
func (g *gatedActions) awaitStart(t *testing.T, want string) {
	t.Helper()
	select {
	case got := <-g.started:
		if got != want {
			t.Fatalf("call %q started, want %q", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("call %q did not start within 5s", want)
	}
}

func send(t *testing.T, c *websocket.Conn, frame string) {
	t.Helper()
	if err := c.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		t.Fatal(err)
	}
}

// wantAnswer reads the next frame and checks its op and id.
func wantAnswer(t *testing.T, c *websocket.Conn, op, id string) map[string]any {
	t.Helper()
	f := read(t, c)
	if f["op"] != op || f["id"] != id {
		t.Fatalf("frame %v, want op %q for %q", f, op, id)
	}
	return f
}

// A storage call that takes long (a lock, a slow disk) holds up the
// actions after it, and nothing else: the connection still answers pings,
// replays on resume, and answers frames it need not store.
func TestClientAnswersWhileAnActionWaitsForStorage(t *testing.T) {
	h := &memHistory{ds: map[string][]schema.Delivery{}}
	h.add("ana", 1)
	h.add("ana", 2)
	g := newGatedActions(true)
	_, srv := newTestHubActing(t, HubConfig{}, h, g)
	c := dial(t, srv, "ana", nil)
	read(t, c) // hello
	send(t, c, `{"op":"ack","id":"al-1"}`)
	g.awaitStart(t, "ack al-1")

	pongs := make(chan struct{}, 1)
	c.SetPongHandler(func(string) error {
		pongs <- struct{}{}
		return nil
	})
	if err := c.WriteControl(websocket.PingMessage, []byte("p"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	send(t, c, `{"op":"resume","after":0}`)
	for want := int64(1); want <= 2; want++ {
		if s := seqOf(t, read(t, c)); s != want {
			t.Fatalf("replayed seq %d, want %d", s, want)
		}
	}
	// The server answered the ping before it read the resume, so the pong
	// came before the replay.
	select {
	case <-pongs:
	default:
		t.Fatal("no pong while an ack was waiting for storage")
	}
	send(t, c, `{"op":"dance"}`)
	if f := read(t, c); f["op"] != "error" {
		t.Fatalf("frame %v, want the error answer to an unknown op", f)
	}

	g.release <- struct{}{}
	wantAnswer(t, c, "acked", "al-1")
}

// The actions of one connection are stored in the order the client sent
// them, and answered in that order.
func TestClientAppliesActionsInOrder(t *testing.T) {
	h := &memHistory{ds: map[string][]schema.Delivery{}}
	g := newGatedActions(false)
	_, srv := newTestHubActing(t, HubConfig{}, h, g)
	c := dial(t, srv, "ana", nil)
	read(t, c) // hello
	ops := []struct{ frame, call, answer string }{
		{`{"op":"seen","id":"%s"}`, "seen", "seen_ok"},
		{`{"op":"ack","id":"%s"}`, "ack", "acked"},
		{`{"op":"feedback","id":"%s","verdict":"useful"}`, "feedback", "feedback_saved"},
	}
	// Fewer than a queue holds, sent without waiting for answers.
	const n = 60
	var want []string
	for i := range n {
		op, id := ops[i%len(ops)], fmt.Sprintf("al-%d", i)
		send(t, c, fmt.Sprintf(op.frame, id))
		want = append(want, op.call+" "+id)
	}
	for i := range n {
		wantAnswer(t, c, ops[i%len(ops)].answer, fmt.Sprintf("al-%d", i))
	}
	if got := g.appliedCalls(); !slices.Equal(got, want) {
		t.Fatalf("applied %v,\nwant %v", got, want)
	}
}

// A client that sends actions faster than storage takes them is told, for
// each one beyond the queue, that it was not stored and should be sent
// again; the queued ones are stored and answered as usual.
func TestClientAnswersBusyWhenItsActionQueueIsFull(t *testing.T) {
	h := &memHistory{ds: map[string][]schema.Delivery{}}
	g := newGatedActions(true)
	_, srv := newTestHubActing(t, HubConfig{ActionQueueSize: 2}, h, g)
	c := dial(t, srv, "ana", nil)
	read(t, c) // hello
	send(t, c, `{"op":"ack","id":"al-1"}`)
	g.awaitStart(t, "ack al-1") // in progress: no longer waiting
	send(t, c, `{"op":"seen","id":"al-2"}`)
	send(t, c, `{"op":"feedback","id":"al-3","verdict":"won"}`)
	send(t, c, `{"op":"ack","id":"al-4"}`)
	f := wantAnswer(t, c, "error", "al-4")
	if want := "ack: busy, 2 actions are waiting; retry"; f["error"] != want {
		t.Errorf("busy answer says %q, want %q", f["error"], want)
	}
	for range 3 {
		g.release <- struct{}{}
	}
	wantAnswer(t, c, "acked", "al-1")
	wantAnswer(t, c, "seen_ok", "al-2")
	wantAnswer(t, c, "feedback_saved", "al-3")
	// Once storage caught up, the retry is taken.
	send(t, c, `{"op":"ack","id":"al-4"}`)
	g.release <- struct{}{}
	wantAnswer(t, c, "acked", "al-4")
	want := []string{"ack al-1", "seen al-2", "feedback al-3", "ack al-4"}
	if got := g.appliedCalls(); !slices.Equal(got, want) {
		t.Fatalf("applied %v, want %v", got, want)
	}
}

// When the connection ends, a storage call in progress is cancelled and
// the actions waiting behind it are dropped (their answers could no longer
// be delivered, so the client sends them again), and no goroutine is left.
func TestClientCancelsActionsWhenTheConnectionEnds(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(*Hub, *websocket.Conn)
	}{
		{"client closes", func(_ *Hub, c *websocket.Conn) { c.Close() }},
		{"server shuts down", func(hub *Hub, _ *websocket.Conn) { hub.Close() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &memHistory{ds: map[string][]schema.Delivery{}}
			g := newGatedActions(true)
			hub, srv := newTestHubActing(t, HubConfig{}, h, g)
			c := dial(t, srv, "ana", nil)
			read(t, c) // hello
			send(t, c, `{"op":"ack","id":"al-1"}`)
			send(t, c, `{"op":"seen","id":"al-2"}`)
			g.awaitStart(t, "ack al-1")
			tc.end(hub, c)
			select {
			case err := <-g.ended:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("the hung call ended with %v, want %v", err, context.Canceled)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("a storage call still runs 5s after its connection ended")
			}
			awaitNoGoroutine(t, "notify.(*client).act(")
			select {
			case call := <-g.started:
				t.Errorf("%s started after the connection ended", call)
			default:
			}
			if got := g.appliedCalls(); len(got) != 0 {
				t.Errorf("applied %v after the connection ended, want nothing", got)
			}
		})
	}
}

// awaitNoGoroutine waits until no goroutine runs fn. A goroutine has no
// event to await when it ends, so this looks every few milliseconds.
func awaitNoGoroutine(t *testing.T, fn string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if !bytes.Contains(buf[:n], []byte(fn)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a goroutine still runs %s 5s later:\n%s", fn, buf[:n])
		}
		time.Sleep(5 * time.Millisecond)
	}
}
