package api

import (
	"net"
	"net/netip"
	"sync"
)

// LimitConnsPerAddr returns a listener that holds at most perAddr open
// connections from one client address (IPv6: one /64): a further one is
// closed as soon as it is accepted, and refused is called. Connections
// from trusted proxies, which carry many clients, are not limited. A
// hijacked connection (a websocket) counts until it is closed.
func LimitConnsPerAddr(ln net.Listener, perAddr int, trusted []netip.Prefix, refused func()) net.Listener {
	return &limitListener{Listener: ln, perAddr: perAddr, trusted: trusted, refused: refused, open: make(map[string]int)}
}

type limitListener struct {
	net.Listener
	perAddr int
	trusted []netip.Prefix
	refused func()

	mu   sync.Mutex
	open map[string]int
}

// Accept returns the next connection within the limit.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ap, perr := netip.ParseAddrPort(c.RemoteAddr().String())
		if perr != nil || isTrusted(ap.Addr().Unmap(), l.trusted) {
			return c, nil
		}
		key := addrKey(ap.Addr())
		l.mu.Lock()
		if l.open[key] >= l.perAddr {
			l.mu.Unlock()
			c.Close()
			if l.refused != nil {
				l.refused()
			}
			continue
		}
		l.open[key]++
		l.mu.Unlock()
		return &limitedConn{Conn: c, release: func() { l.release(key) }}, nil
	}
}

func (l *limitListener) release(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[key]--; l.open[key] <= 0 {
		delete(l.open, key)
	}
}

type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

// Close closes the connection and frees its place, once.
func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
