package delivery_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/dowserhq/dowser/delivery"
)

// A guarded client refuses a receiver in a blocked network, whether named
// by its address or by a name resolving to it, as a permanent failure;
// other receivers, and every receiver without a guard, are reached.
func TestGuardedClientRefusesBlockedNetworks(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":"):]
	for _, target := range []string{srv.URL, "http://localhost" + port} {
		_, err := delivery.GuardedClient(delivery.PrivateNets).Post(target, "application/json", nil)
		var be *delivery.BlockedTargetError
		if !errors.As(err, &be) || !be.Net.Contains(netip.MustParseAddr("127.0.0.1")) && !be.Addr.IsLoopback() {
			t.Errorf("%s: err %v, want a BlockedTargetError", target, err)
		}
		if o := delivery.Classify(0, err); o != delivery.Permanent {
			t.Errorf("%s: outcome %v, want Permanent", target, o)
		}
	}
	other, err := delivery.ParseNets("10.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*http.Client{delivery.GuardedClient(other), delivery.GuardedClient(nil)} {
		resp, err := c.Post(srv.URL, "application/json", nil)
		if err != nil {
			t.Fatalf("outside the blocked networks: %v", err)
		}
		resp.Body.Close()
	}
}

func TestParseNets(t *testing.T) {
	got, err := delivery.ParseNets(" private , 203.0.113.7/24")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(delivery.PrivateNets)+1 || got[len(got)-1] != netip.MustParsePrefix("203.0.113.0/24") {
		t.Errorf("ParseNets = %v", got)
	}
	if got, err := delivery.ParseNets("none"); err != nil || len(got) != 0 {
		t.Errorf("none: %v, %v", got, err)
	}
	if _, err := delivery.ParseNets("10.0.0.0/8,intranet"); err == nil || !strings.Contains(err.Error(), `"intranet"`) {
		t.Errorf("a bad network: err %v, want one naming it", err)
	}
}
