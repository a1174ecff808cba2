package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// wsMemory is the websocket memory measurement.
type wsMemory struct {
	perConn float64
	conns   int
	short   string // why fewer connections than asked, if so
}

// measureWSMemory opens n idle websocket connections to the service running
// in this process from a client process (see RunClients), and returns
// the growth of this process's RSS per connection.
func measureWSMemory(ctx context.Context, addr string, n, users int) (*wsMemory, error) {
	ws := &wsMemory{}
	if _, hard, room := raiseOpenFileLimit(); room < n {
		ws.short = fmt.Sprintf("the service process's open-file hard limit is %d", hard)
		n = max(room, 1)
	}
	settle := func() (int64, error) {
		time.Sleep(time.Second)
		runtime.GC()
		debug.FreeOSMemory()
		return processRSS()
	}
	before, err := settle()
	if err != nil {
		return nil, err
	}
	clients, err := startClients(ctx, "idle", addr, n, users, "")
	if err != nil {
		return nil, err
	}
	defer clients.stop()
	if clients.opened < 1 {
		return nil, fmt.Errorf("no connection opened: %s", clients.short)
	}
	if clients.short != "" {
		ws.short = clients.short
	}
	after, err := settle()
	if err != nil {
		return nil, err
	}
	ws.conns = clients.opened
	ws.perConn = float64(after-before) / float64(clients.opened)
	return ws, nil
}

// raiseOpenFileLimit raises this process's open-file limit to its hard
// limit and returns both and how many more files it can open, keeping 256
// spare.
func raiseOpenFileLimit() (soft, hard uint64, room int) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, 0, 1 << 30 // unknown: let the dials find out
	}
	if lim.Cur < lim.Max {
		raised := lim
		raised.Cur = lim.Max
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised) == nil {
			lim = raised
		}
	}
	open := 0
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		open = len(fds)
	}
	return lim.Cur, lim.Max, int(lim.Cur) - open - 256
}

// processRSS is this process's resident set size in bytes.
func processRSS() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("reading RSS: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS in /proc/self/status")
}
