package delivery

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// PrivateNets are the networks a receiver chosen by a user should not be
// in: loopback, private, link-local (cloud metadata services among them),
// carrier-grade NAT, unspecified and multicast addresses. A channel's
// target is any URL its owner types; without a guard, Dowser would post to
// services reachable only from inside its network on their behalf.
var PrivateNets = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("224.0.0.0/4"),
	netip.MustParsePrefix("::/128"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("fc00::/7"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("ff00::/8"),
}

// ParseNets reads a comma-separated list of CIDR prefixes; "private"
// stands for PrivateNets, and "" or "none" is no network.
func ParseNets(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		switch f {
		case "", "none":
			continue
		case "private":
			out = append(out, PrivateNets...)
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not a network: want a CIDR prefix such as 10.0.0.0/8, or \"private\"", f)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// BlockedTargetError is a receiver whose address is in a blocked network:
// a permanent failure, since retrying reaches the same address.
type BlockedTargetError struct {
	Addr netip.Addr
	Net  netip.Prefix
}

func (e *BlockedTargetError) Error() string {
	return fmt.Sprintf("the receiver's address %s is in the blocked network %s (see --delivery-blocked-nets)", e.Addr, e.Net)
}

// GuardedClient is the dispatcher's client refusing to connect to any
// address in blocked. The check is made on the address actually dialled,
// after name resolution, so a name that resolves to an inside address (or
// changes to one between checks) is refused too; it follows no redirects.
func GuardedClient(blocked []netip.Prefix) *http.Client {
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	d.Control = func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("dialling %s: %w", address, err)
		}
		a := ap.Addr().Unmap()
		for _, p := range blocked {
			if p.Contains(a) {
				return &BlockedTargetError{Addr: a, Net: p}
			}
		}
		return nil
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil // a proxy would dial for us, unchecked
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}
	return &http.Client{Transport: t, CheckRedirect: noRedirects}
}

// noRedirects makes a redirect the answer: it would turn the POST into a
// GET, so the receiver's URL should be the final one.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
