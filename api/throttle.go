package api

import (
	"math"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// throttle counts failed authentications per key (a client address, a
// token prefix) in token buckets: each key may fail limit times at once,
// and regains one try every window/limit. A key whose bucket is empty is
// refused until it refills. State is per instance.
type throttle struct {
	limit  float64
	window time.Duration
	now    func() time.Time

	mu      sync.Mutex
	buckets map[string]*failBucket
}

type failBucket struct {
	tries float64 // tries left
	at    time.Time
}

// maxThrottleKeys bounds the memory a flood of distinct addresses or
// prefixes can take; beyond it, buckets that have refilled are dropped.
const maxThrottleKeys = 100_000

func newThrottle(limit int, window time.Duration, now func() time.Time) *throttle {
	return &throttle{limit: float64(limit), window: window, now: now, buckets: make(map[string]*failBucket)}
}

// refill brings b up to date. t.mu must be held.
func (t *throttle) refill(b *failBucket, now time.Time) {
	rate := t.limit / t.window.Seconds()
	b.tries = math.Min(t.limit, b.tries+rate*now.Sub(b.at).Seconds())
	b.at = now
}

// begin starts a try against keys. When one of them is throttled it
// returns how long the longest-throttled must wait and counts nothing;
// otherwise it takes a try from each key at once, so that concurrent
// guesses cannot all pass the check before any failure is counted, and
// returns 0. A try that succeeds gives its tries back with succeeded.
func (t *throttle) begin(keys ...string) time.Duration {
	if t == nil {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	var longest time.Duration
	for _, k := range keys {
		b := t.buckets[k]
		if b == nil {
			continue
		}
		t.refill(b, now)
		if b.tries < 1 {
			longest = max(longest, time.Duration((1-b.tries)/t.limit*float64(t.window)))
		}
	}
	if longest > 0 {
		return longest
	}
	if len(t.buckets)+len(keys) > maxThrottleKeys {
		for k, b := range t.buckets {
			if t.refill(b, now); b.tries >= t.limit {
				delete(t.buckets, k)
			}
		}
	}
	for _, k := range keys {
		b := t.buckets[k]
		if b == nil {
			b = &failBucket{tries: t.limit, at: now}
			t.buckets[k] = b
		}
		b.tries--
	}
	return 0
}

// succeeded gives back the tries begin took: only failures count.
func (t *throttle) succeeded(keys ...string) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	for _, k := range keys {
		if b := t.buckets[k]; b != nil {
			t.refill(b, now)
			b.tries = min(t.limit, b.tries+1)
			if b.tries >= t.limit {
				delete(t.buckets, k) // a full bucket is no bucket
			}
		}
	}
}

// tokenPrefixLen is how much of a token names its throttling bucket: a
// guesser who varies only the end of a token shares one bucket, while two
// random tokens almost never do.
const tokenPrefixLen = 8

// throttleKeys are the buckets a try with token from addr counts against.
func throttleKeys(addr netip.Addr, token string) []string {
	keys := []string{"addr " + addrKey(addr)}
	if token != "" {
		keys = append(keys, "token "+token[:min(len(token), tokenPrefixLen)])
	}
	return keys
}

// addrKey names an address's bucket: IPv6 clients by their /64, which one
// host usually has whole.
func addrKey(a netip.Addr) string {
	if a.Is6() && !a.Is4In6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.Unmap().String()
}

// clientAddr is the address of the client that sent r: the peer, or, when
// the peer is a trusted proxy, the last address in X-Forwarded-For that
// is not a trusted proxy.
func clientAddr(r *http.Request, trusted []netip.Prefix) netip.Addr {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	addr := peer.Addr().Unmap()
	if !isTrusted(addr, trusted) {
		return addr
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // what lies left of garbage cannot be trusted either
		}
		addr = a.Unmap()
		if !isTrusted(addr, trusted) {
			break
		}
	}
	return addr
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// overTLS reports whether the client reached us over HTTPS: directly, or
// through a trusted proxy that says so in X-Forwarded-Proto.
func overTLS(r *http.Request, trusted []netip.Prefix) bool {
	if r.TLS != nil {
		return true
	}
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil || !isTrusted(peer.Addr().Unmap(), trusted) {
		return false
	}
	protos := strings.Split(r.Header.Get("X-Forwarded-Proto"), ",")
	// The nearest proxy appends last.
	return strings.EqualFold(strings.TrimSpace(protos[len(protos)-1]), "https")
}
