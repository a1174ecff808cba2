package main

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dowserhq/dowser/notify"
)

// Presence is cluster-wide: a rep connected only to instance B counts as
// connected for round-robin routing of an alert detected on instance A,
// and once B is SIGKILLed its reps stop counting after the presence lease.
//
// Reps ana, ben and cy; the account ranks them ana > ben > cy. Ana is
// never connected; ben is connected to B, cy to A. With presence across
// instances the first alert goes to ben (A alone sees only cy); after B
// dies, to cy.
func TestEndToEndPresenceAcrossInstances(t *testing.T) {
	const lease = 3 * time.Second
	a := startApp(t, func(c *serveConfig) { c.PresenceLease, c.PresenceRefresh = lease, 200*time.Millisecond })
	a.seed()
	a.do("PUT", "/v1/users/rep-cy", adminToken, map[string]string{"name": "Cy", "role": "rep", "token": token("rep-cy")}, http.StatusOK, nil)
	account := ""
	for i := 0; account == ""; i++ {
		id := fmt.Sprintf("unowned-%d", i)
		key := "account:" + id
		if notify.Rendezvous(key, []string{"rep-ana", "rep-ben", "rep-cy"}) == "rep-ana" && notify.Rendezvous(key, []string{"rep-ben", "rep-cy"}) == "rep-ben" {
			account = id
		}
	}
	a.do("PUT", "/v1/accounts/"+account, adminToken, map[string]string{"name": "Unowned", "lifecycle": "prospect"}, http.StatusOK, nil)

	// B shares A's database, broker and alerts topic but detects nothing:
	// its consumer reads a topic of its own.
	bAddr := freePort(t)
	b := startProcess(t, buildBinary(t), filepath.Join(t.TempDir(), "b.log"), "serve",
		"--kafka-brokers", strings.Join(a.Brokers(), ","), "--database-url", a.cfg.DatabaseURL, "--http", bAddr,
		"--partitions", "3", "--events-topic", "presence-b.events", "--group-id", "presence-b", "--instance", "b",
		"--presence-lease", lease.String(), "--presence-refresh", "200ms", "--log-format", "text")
	ben := dialStream(t, bAddr, "rep-ben")
	cy := a.connect("rep-cy")
	await(t, time.Minute, "A counting ben (on B) and cy as connected", func() bool { return a.metric("dowser_presence_users") == 2 })

	w := a.writer()
	now := time.Now()
	a.produce(w,
		kv(pricingView(account, "u-1", now.Add(-3*time.Minute))),
		kv(pricingView(account, "u-2", now.Add(-2*time.Minute))),
		kv(pricingView(account, "u-1", now.Add(-time.Minute))),
	)
	if _, alert := ben.nextAlert(5 * time.Second); alert["rep"] != "rep-ben" || alert["account_id"] != account {
		t.Fatalf("ben (on B) got %v, want %s's alert routed to him", alert, account)
	}
	if n := a.alertCount("rep-cy"); n != 0 {
		t.Errorf("cy was addressed %d alerts while ben, ranked higher, was connected to B", n)
	}

	b.kill()
	await(t, time.Minute, "A no longer counting ben once B's lease ran out", func() bool { return a.metric("dowser_presence_users") == 1 })
	a.produce(w, kv(pricingView(account, "u-2", now)))
	if _, alert := cy.nextAlert(5 * time.Second); alert["rep"] != "rep-cy" {
		t.Errorf("after B died cy got %v, want the alert routed to cy", alert)
	}
}
