package bench

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/sync/errgroup"
)

// ClientsArg, as `dowser bench __clients MODE ADDR N USERS [PROBE]`,
// runs the client side of the websocket measurements ([RunClients]): the
// bench starts this very binary so, as it does `dowser broker`, and
// `dowser bench` must hand such a command line to [RunClients].
const ClientsArg = "__clients"

// clients is a running client process.
type clients struct {
	opened int           // connections open
	short  string        // why fewer than asked, if so
	lines  <-chan string // what the clients report after "ready"
	stop   func()        // closes the connections and waits for the process
}

// clientsWhere says where startClients runs the clients.
func clientsWhere() string {
	if testing.Testing() {
		return "in the service's process (a test binary cannot run `dowser bench __clients`)"
	}
	return "in a process of their own"
}

// startClients starts `dowser bench __clients` and waits until its
// connections are open. In a test binary, which cannot be started as
// dowser, the clients run in this process instead.
func startClients(ctx context.Context, mode, addr string, n, users int, probe string) (*clients, error) {
	args := []string{mode, addr, strconv.Itoa(n), strconv.Itoa(users), probe}
	// A file, not an io.Pipe, for the child's input: exec would copy from
	// a pipe in a goroutine that Wait awaits, so a child that fails
	// before "ready" would never be waited for.
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("starting the websocket clients: %w", err)
	}
	stdoutR, stdoutW := io.Pipe()
	var wait func() error
	if testing.Testing() {
		errc := make(chan error, 1)
		go func() {
			err := RunClients(ctx, args, stdinR, stdoutW)
			stdinR.Close()
			stdoutW.CloseWithError(err)
			errc <- err
		}()
		wait = func() error { return <-errc }
	} else {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("finding the dowser binary: %w", err)
		}
		cmd := exec.Command(exe, append([]string{"bench", ClientsArg}, args...)...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = stdinR, stdoutW, os.Stderr
		err = cmd.Start()
		stdinR.Close() // the child's now
		if err != nil {
			stdinW.Close()
			return nil, fmt.Errorf("starting %s bench %s: %w", exe, ClientsArg, err)
		}
		exited := make(chan error, 1)
		go func() {
			err := cmd.Wait()
			stdoutW.CloseWithError(err)
			exited <- err
		}()
		wait = func() error {
			select {
			case err := <-exited:
				return err
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				return <-exited
			}
		}
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			stdinW.Close()
			_ = wait()
		})
	}
	sc := bufio.NewScanner(stdoutR)
	if !sc.Scan() {
		stop()
		return nil, fmt.Errorf("the websocket clients stopped before they were ready: %v", sc.Err())
	}
	// "ready <opened> <why fewer, if so>"
	ready := strings.SplitN(sc.Text(), " ", 3)
	if len(ready) < 2 || ready[0] != "ready" {
		stop()
		return nil, fmt.Errorf("the websocket clients said %q, not ready", sc.Text())
	}
	c := &clients{stop: stop}
	c.opened, _ = strconv.Atoi(ready[1])
	if len(ready) == 3 {
		c.short = ready[2]
	}
	lines := make(chan string, 1024)
	c.lines = lines
	go func() {
		defer close(lines)
		for sc.Scan() {
			lines <- sc.Text()
		}
		io.Copy(io.Discard, stdoutR)
	}()
	return c, nil
}

// RunClients is `dowser bench __clients MODE ADDR N USERS [PROBE]`:
// it opens N websocket connections to ADDR's stream, connection i as user
// i mod USERS, each having read its hello, says "ready <opened> [why
// fewer]", and keeps them open until its input ends. MODE "idle" leaves
// the connections as bare sockets (as few as the open-file limit allows);
// MODE "e2e" reads every connection and says "alert <account> <unix
// nanoseconds>" for each alert frame of signal PROBE.
func RunClients(ctx context.Context, args []string, in io.Reader, out io.Writer) error {
	if len(args) < 4 {
		return fmt.Errorf("bench %s: want MODE ADDR N USERS [PROBE], got %q", ClientsArg, args)
	}
	mode, addr, probe := args[0], args[1], ""
	if len(args) > 4 {
		probe = args[4]
	}
	n, err1 := strconv.Atoi(args[2])
	users, err2 := strconv.Atoi(args[3])
	if err := errors.Join(err1, err2); err != nil || n < 1 || users < 1 {
		return fmt.Errorf("bench %s: N and USERS must be positive numbers: %q", ClientsArg, args)
	}
	var short string
	if _, hard, room := raiseOpenFileLimit(); room < n {
		short = fmt.Sprintf("the clients' process's open-file hard limit is %d", hard)
		n = max(room, 1)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var outMu sync.Mutex
	w := bufio.NewWriter(out)
	say := func(format string, a ...any) {
		outMu.Lock()
		defer outMu.Unlock()
		fmt.Fprintf(w, format+"\n", a...)
		w.Flush()
	}

	var closers []io.Closer
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	switch mode {
	case "idle":
		conns := make([]net.Conn, n)
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(16)
		for i := range n {
			g.Go(func() error {
				c, err := idleConn(gctx, addr, token(i%users))
				if err != nil {
					return fmt.Errorf("connection %d: %w", i, err)
				}
				conns[i] = c
				return nil
			})
		}
		err := g.Wait()
		for _, c := range conns {
			if c != nil {
				closers = append(closers, c)
			}
		}
		if err != nil {
			return err
		}
	case "e2e":
		dialer := &websocket.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 4096, WriteBufferSize: 1024}
		for i := range n {
			conn, _, err := dialer.DialContext(ctx, "ws://"+addr+"/v1/stream", http.Header{"Authorization": {"Bearer " + token(i%users)}})
			if err != nil {
				return fmt.Errorf("websocket client %d: %w", i, err)
			}
			closers = append(closers, conn.NetConn())
			// Its hello first, so that "ready" means connected.
			conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, _, err := conn.ReadMessage(); err != nil {
				return fmt.Errorf("websocket client %d: reading hello: %w", i, err)
			}
			conn.SetReadDeadline(time.Time{})
			go func() {
				for {
					_, data, err := conn.ReadMessage()
					if err != nil {
						return
					}
					now := time.Now()
					var f struct {
						Op    string `json:"op"`
						Alert struct {
							SignalID  string `json:"signal_id"`
							AccountID string `json:"account_id"`
						} `json:"alert"`
					}
					if json.Unmarshal(data, &f) != nil || f.Op != "alert" || f.Alert.SignalID != probe {
						continue
					}
					say("alert %s %d", f.Alert.AccountID, now.UnixNano())
				}
			}()
		}
	default:
		return fmt.Errorf("bench %s: mode %q is not idle or e2e", ClientsArg, mode)
	}
	say("ready %d %s", len(closers), short)
	// Until the bench closes our input (or dies).
	go func() {
		io.Copy(io.Discard, in)
		cancel()
	}()
	<-ctx.Done()
	return nil
}

// idleConn opens a websocket connection to addr's stream with a
// handshake by hand, reads the hello frame, and leaves nothing on the
// client side but the socket.
func idleConn(ctx context.Context, addr, token string) (net.Conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	var key [16]byte
	for j := range key {
		key[j] = byte(rand.IntN(256))
	}
	fmt.Fprintf(c, "GET /v1/stream HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer %s\r\n\r\n",
		addr, base64.StdEncoding.EncodeToString(key[:]), token)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReaderSize(c, 512)
	status, err := br.ReadString('\n')
	if err != nil || !strings.Contains(status, " 101 ") {
		c.Close()
		return nil, fmt.Errorf("handshake answered %q: %v", status, err)
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("reading the handshake's headers: %w", err)
		}
		if line == "\r\n" {
			break
		}
	}
	// The hello: an unmasked text frame, short enough for a 7-bit or
	// 16-bit length.
	var hdr [2]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		c.Close()
		return nil, fmt.Errorf("reading the hello: %w", err)
	}
	size := int(hdr[1] & 0x7f)
	if size == 126 {
		var ext [2]byte
		if _, err := io.ReadFull(br, ext[:]); err != nil {
			c.Close()
			return nil, fmt.Errorf("reading the hello: %w", err)
		}
		size = int(ext[0])<<8 | int(ext[1])
	}
	payload := make([]byte, size)
	if _, err := io.ReadFull(br, payload); err != nil || !strings.Contains(string(payload), `"hello"`) {
		c.Close()
		return nil, fmt.Errorf("reading the hello: got %q: %v", payload, err)
	}
	c.SetReadDeadline(time.Time{})
	return c, nil
}
