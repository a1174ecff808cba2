package api

import (
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestThrottleCountsConcurrentTriesBeforeTheyFail(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	th := newThrottle(5, time.Minute, func() time.Time { return now })
	var passed atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if th.begin("addr 192.0.2.1") == 0 {
				passed.Add(1)
			}
		})
	}
	wg.Wait()
	if got := passed.Load(); got != 5 {
		t.Errorf("%d of 50 concurrent failing tries passed, want 5", got)
	}
	// Successes give their try back.
	th2 := newThrottle(2, time.Minute, func() time.Time { return now })
	for i := range 10 {
		if wait := th2.begin("addr 192.0.2.2"); wait != 0 {
			t.Fatalf("success %d throttled for %v", i, wait)
		}
		th2.succeeded("addr 192.0.2.2")
	}
	if n := len(th2.buckets); n != 0 {
		t.Errorf("%d buckets kept for a client that never failed", n)
	}
}

func TestClientAddr(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	for _, tc := range []struct{ remote, xff, want string }{
		{"192.0.2.1:5000", "", "192.0.2.1"},
		{"192.0.2.1:5000", "198.51.100.1", "192.0.2.1"},                // untrusted peer: header ignored
		{"10.0.0.1:5000", "198.51.100.1", "198.51.100.1"},              // proxy's client
		{"10.0.0.1:5000", "203.0.113.9, 198.51.100.1", "198.51.100.1"}, // the client cannot pick its address
		{"10.0.0.1:5000", "198.51.100.1, 10.0.0.2", "198.51.100.1"},    // two proxies
		{"10.0.0.1:5000", "", "10.0.0.1"},
		{"[2001:db8::1]:5000", "", "2001:db8::1"},
	} {
		r := &http.Request{RemoteAddr: tc.remote, Header: http.Header{}}
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := clientAddr(r, trusted); got.String() != tc.want {
			t.Errorf("clientAddr(%s, XFF %q) = %s, want %s", tc.remote, tc.xff, got, tc.want)
		}
	}
	if a, b := addrKey(netip.MustParseAddr("2001:db8::1")), addrKey(netip.MustParseAddr("2001:db8::ffff")); a != b {
		t.Errorf("one /64 has two keys: %s, %s", a, b)
	}
}
