package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/postgres/pgtest"
)

// TestChaosChannelDeliveriesSurviveKills runs the real binary, SIGKILLs it
// twice while it sends a burst of alerts to two webhook channels (whose
// receiver also answers 500 now and then), and checks that every stored
// alert reached each channel under one delivery id: a request repeated
// after a crash carries the same id, so a receiver that remembers ids
// processes each delivery once.
func TestChaosChannelDeliveriesSurviveKills(t *testing.T) {
	t.Parallel() // see TestMain
	rc := startReceiver(t)
	r := newChaosRun(t, pgtest.URL(t), 20_000)
	secrets := map[string]string{"/one": "first-channel-secret-0123", "/two": "second-channel-secret-0123"}
	for path, secret := range secrets {
		if _, err := r.store.Channels.AddChannel(r.ctx, dowser.Channel{UserID: "rep-ana", Kind: dowser.ChannelWebhook, Target: rc.url(path), Enabled: true, Secret: secret}); err != nil {
			t.Fatal(err)
		}
		rc.secrets[path] = []string{secret}
	}
	rc.answer = func(_ string, n int) int {
		if n%10 == 0 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	}
	serve := func(name string) (*process, string) {
		addr := freePort(t)
		return startProcess(t, r.bin, filepath.Join(r.dir, name+".log"), "serve", "--kafka-brokers", r.kafkaAddr,
			"--database-url", r.db, "--http", addr, "--partitions", "4", "--log-format", "text",
			"--delivery-backoff", "100ms", "--delivery-backoff-max", "1s", "--delivery-timeout", "2s",
			"--delivery-blocked-nets", "none"), addr // the receiver is on 127.0.0.1
	}
	accepted := func() int {
		n := 0
		for _, ids := range rc.accepted("/one") {
			n += len(ids)
		}
		return n
	}
	p, addr := serve("serve-0")
	produced := r.produce()
	const kills = 2
	for i := range kills {
		// Killed while deliveries are being sent: some claimed, some
		// requests in flight, the outbox far from empty.
		awaitSplitOverHTTP(t, 4, addr)
		floor := accepted() + 50
		rc.await(2*time.Minute, fmt.Sprintf("50 more deliveries accepted before kill %d", i+1), func() bool { return accepted() >= floor })
		p.kill()
		p, addr = serve(fmt.Sprintf("serve-%d", i+1))
	}
	stored := r.finish(produced, fmt.Sprintf("%d SIGKILLs while delivering", kills))

	alerts, err := r.store.Alerts.ListAlerts(r.ctx, "rep-ana", 10_000_000)
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != stored || stored == 0 {
		t.Fatalf("rep-ana received %d of %d alerts; want all, and some", len(alerts), stored)
	}
	// Claims of the killed instances come due again after their lease.
	done := func() bool {
		cs, err := r.store.Channels.ListChannels(context.Background(), "rep-ana")
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			if c.Sent != int64(stored) {
				return false
			}
		}
		return true
	}
	rc.await(3*time.Minute, "every channel delivery sent", done)

	for path := range secrets {
		got := rc.accepted(path)
		if len(got) != stored {
			t.Errorf("%s accepted %d alerts, want %d", path, len(got), stored)
		}
		repeated := 0
		for _, la := range alerts {
			var id struct{ ID string }
			if err := json.Unmarshal(la.Alert, &id); err != nil {
				t.Fatal(err)
			}
			ids := got[id.ID]
			switch {
			case len(ids) == 0:
				t.Errorf("%s: alert %s never delivered", path, id.ID)
			case len(ids) > 1:
				t.Errorf("%s: alert %s delivered under %d ids %v, want one", path, id.ID, len(ids), ids)
			}
			for _, n := range ids {
				repeated += n - 1
			}
		}
		t.Logf("%s: %d alerts each delivered under one id; %d requests repeated an id already accepted (after a kill)", path, stored, repeated)
	}
	rc.checkSignatures()
}
