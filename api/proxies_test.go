package api

import (
	"net/netip"
	"slices"
	"testing"
)

func TestParseTrustedProxies(t *testing.T) {
	got, err := ParseTrustedProxies(" 10.0.0.0/8, ,192.168.1.7,::ffff:172.16.0.1,2001:db8::1/64")
	want := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("192.168.1.7/32"),
		netip.MustParsePrefix("172.16.0.1/32"),
		netip.MustParsePrefix("2001:db8::/64"),
	}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("ParseTrustedProxies = %v, %v; want %v", got, err, want)
	}
	if _, err := ParseTrustedProxies("10.0.0.0/8,proxy.example"); err == nil || err.Error() != `"proxy.example" is not an address or CIDR range` {
		t.Errorf("a host name: err = %v", err)
	}
}
