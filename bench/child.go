package bench

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// serveChild is `dowser serve` (this very binary) running as a child
// process, so that it can be killed with SIGKILL and its memory read
// without the bench's in it.
type serveChild struct {
	cmd    *exec.Cmd
	addr   string
	exited chan struct{}
}

// startServe starts `dowser serve` with args, serving HTTP on addr.
func startServe(addr string, args ...string) (*serveChild, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding the dowser binary: %w", err)
	}
	cmd := exec.Command(exe, append([]string{"serve", "--http", addr, "--log-format", "text", "--log-level", "error"}, args...)...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s serve: %w", exe, err)
	}
	c := &serveChild{cmd: cmd, addr: addr, exited: make(chan struct{})}
	go func() { cmd.Wait(); close(c.exited) }()
	return c, nil
}

// waitReady waits until the child's /readyz answers 200.
func (c *serveChild) waitReady(ctx context.Context, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.addr+"/readyz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-c.exited:
			return fmt.Errorf("the service child process exited: %v", c.cmd.ProcessState)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond): // another process: nothing to await but its port
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the service child process was not ready within %s", within)
		}
	}
}

// kill ends the child with SIGKILL, as a crash would.
func (c *serveChild) kill() {
	c.cmd.Process.Kill()
	<-c.exited
}

// stop ends the child with SIGTERM, and SIGKILL if it has not stopped
// within 30 s.
func (c *serveChild) stop() {
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(30 * time.Second):
		c.kill()
	}
}

// metrics scrapes the child's /metrics.
func (c *serveChild) metrics(ctx context.Context) (promMetrics, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.addr+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scraping the service's metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scraping the service's metrics: %s", resp.Status)
	}
	return parseMetrics(resp.Body)
}

// memory is the child's resident set now and at its peak, in bytes.
func (c *serveChild) memory() (rss, hwm int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		return 0, 0, fmt.Errorf("reading the service's RSS: %w", err)
	}
	return statusField(string(b), "VmRSS"), statusField(string(b), "VmHWM"), nil
}

// statusField is a "kB" field of /proc/<pid>/status, in bytes; 0 when
// absent.
func statusField(status, name string) int64 {
	for _, line := range strings.Split(status, "\n") {
		if rest, ok := strings.CutPrefix(line, name+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// promMetrics are the samples of a Prometheus text exposition, summed
// over their labels by name: a histogram's _sum and _count are names of
// their own.
type promMetrics map[string]float64

// parseMetrics reads the Prometheus text format.
func parseMetrics(r io.Reader) (promMetrics, error) {
	m := promMetrics{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, labels := line, "", ""
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name, rest = line[:i], line[i:]
		}
		if strings.HasPrefix(rest, "{") {
			// Label values may hold spaces and braces, quoted.
			end, quoted := -1, false
			for i := 1; i < len(rest); i++ {
				switch {
				case rest[i] == '\\' && quoted:
					i++
				case rest[i] == '"':
					quoted = !quoted
				case rest[i] == '}' && !quoted:
					end = i
				}
				if end >= 0 {
					break
				}
			}
			if end < 0 {
				return nil, fmt.Errorf("metrics line %q: unterminated labels", line)
			}
			if strings.HasSuffix(name, "_bucket") {
				labels = rest[1:end]
			}
			rest = rest[end+1:]
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			return nil, fmt.Errorf("metrics line %q: no value", line)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics line %q: %w", line, err)
		}
		m[name] += v
		if le, ok := labelValue(labels, "le"); ok {
			m[name+"|"+le] += v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading metrics: %w", err)
	}
	if len(m) == 0 {
		return nil, errors.New("reading metrics: none")
	}
	return m, nil
}

// labelValue returns the value of label name in a metric's labels, if
// it is there and its value has no escapes (bucket bounds have none).
func labelValue(labels, name string) (string, bool) {
	_, v, ok := strings.Cut(","+labels, ","+name+`="`)
	if !ok {
		return "", false
	}
	v, _, ok = strings.Cut(v, `"`)
	return v, ok
}

// bucket is histogram h's count of observations at most le (summed over
// its other labels).
func (m promMetrics) bucket(h, le string) float64 { return m[h+"_bucket|"+le] }

// bounds returns histogram h's bucket bounds, in increasing order, +Inf
// last.
func (m promMetrics) bounds(h string) []string {
	var les []string
	prefix := h + "_bucket|"
	for k := range m {
		if le, ok := strings.CutPrefix(k, prefix); ok {
			les = append(les, le)
		}
	}
	num := func(le string) float64 {
		f, err := strconv.ParseFloat(le, 64)
		if err != nil {
			return math.Inf(1)
		}
		return f
	}
	slices.SortFunc(les, func(a, b string) int { return cmp.Compare(num(a), num(b)) })
	return les
}

// get is the named metric's sum and whether it was exposed.
func (m promMetrics) get(name string) (float64, bool) {
	v, ok := m[name]
	return v, ok
}
