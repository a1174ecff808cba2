package postgres_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/postgres"
	"github.com/dowserhq/dowser/postgres/pgtest"
)

func TestEraseCustomerReachesLinkedIdentitiesAndQueuesTombstones(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	// An alert of the person's anonymous id, one of the person, one of
	// someone else on a shared device, and one of a stranger.
	for _, a := range []struct{ id, customer string }{{"al-anon", "anon-1"}, {"al-known", "c-1"}, {"al-shared", "anon-2"}, {"al-other", "c-2"}} {
		al := alert(a.id)
		al.CustomerID, al.Subject = a.customer, "customer:"+a.customer
		al.Evidence[0].CustomerID = a.customer
		if _, err := s.Alerts.SaveAlert(ctx, al, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range [][2]string{{"c-1", "anon-1"}, {"c-1", "anon-1"}, {"c-2", "anon-3"}} {
		if err := s.Privacy.RecordIdentityLink(ctx, l[0], l[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Directory.PutContact(ctx, dowser.Contact{ID: "c-1", AccountID: "acme"}); err != nil {
		t.Fatal(err)
	}
	key := []byte("k-0123456789abcdef0123456789abcdef")
	seq, n, err := s.WithPrivacyKey(key).Privacy.EraseCustomer(ctx, "c-1", "admin")
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("alerts deleted = %d, want 2 (al-anon, al-known)", n)
	}
	left, err := s.Alerts.ListAlerts(ctx, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 2 {
		t.Errorf("%d alerts left, want al-shared and al-other", len(left))
	}
	if c, _, err := s.Directory.ContactRouting(ctx, "c-1"); err != nil || c.AccountID != "" {
		t.Errorf("contact after erasure = %+v, %v: want it gone", c, err)
	}
	queued, err := s.Privacy.ErasuresAfter(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(queued) != 1 || queued[0].Seq != seq || !slices.Equal(queued[0].LinkedIDs, []string{"anon-1"}) {
		t.Errorf("queued erasures = %+v, want c-1 with anon-1", queued)
	}

	var published []string
	got, err := s.Privacy.PublishTombstones(ctx, 10, func(_ context.Context, ids []string) error {
		published = append(published, ids...)
		return nil
	})
	slices.Sort(published)
	if err != nil || got != 2 || !slices.Equal(published, []string{"al-anon", "al-known"}) {
		t.Errorf("tombstones = %v (%d, %v), want al-anon and al-known", published, got, err)
	}
	if again, _ := s.Privacy.PublishTombstones(ctx, 10, func(context.Context, []string) error { return nil }); again != 0 {
		t.Errorf("%d tombstones published twice", again)
	}
	gone, err := s.Privacy.AlertsGone(ctx, []string{"al-anon", "al-other"})
	if err != nil || !slices.Equal(gone, []string{"al-anon"}) {
		t.Errorf("AlertsGone = %v, %v; want al-anon", gone, err)
	}

	audit, err := s.Privacy.ErasureAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	plain := sha256.Sum256([]byte("c-1"))
	if len(audit) != 1 || audit[0].SubjectSHA256 != dowser.KeyedHash(key, "c-1") || audit[0].SubjectSHA256 == hex.EncodeToString(plain[:]) ||
		audit[0].SubjectHashScheme != dowser.AuditHashHMAC || audit[0].AlertsDeleted != 2 {
		t.Errorf("audit = %+v, want the HMAC of c-1 under the key", audit)
	}
}

func TestPrivacyKeyIsMadeOnceAndShared(t *testing.T) {
	ctx := context.Background()
	s, url := openURL(t)
	// Instances starting at once race to make the key: every round starts
	// from none, and every caller must get the one that won.
	keys := make([][]byte, 8)
	for round := range 20 {
		pgtest.Exec(t, url, "DELETE FROM privacy_key")
		var wg sync.WaitGroup
		for i := range keys {
			wg.Go(func() {
				k, err := s.Privacy.PrivacyKey(ctx)
				if err != nil {
					t.Errorf("round %d: %v", round, err)
				}
				keys[i] = k
			})
		}
		wg.Wait()
		for _, k := range keys {
			if len(k) < postgres.MinPrivacyKeyBytes || string(k) != string(keys[0]) {
				t.Fatalf("round %d: keys = %x, want one shared key of %d bytes", round, keys, postgres.MinPrivacyKeyBytes)
			}
		}
	}
	// Without a key of its own, erasure keys its audit hash with it.
	if _, _, err := s.Privacy.EraseCustomer(ctx, "c-9", "admin"); err != nil {
		t.Fatal(err)
	}
	audit, err := s.Privacy.ErasureAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if audit[0].SubjectSHA256 != dowser.KeyedHash(keys[0], "c-9") {
		t.Errorf("audit hash = %s, want the HMAC under the database's key", audit[0].SubjectSHA256)
	}
}

func TestRecordIdentityLinkRefusesWhatPostgreSQLCannotIndex(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	for _, id := range []string{strings.Repeat("x", postgres.MaxLinkedIDBytes+1), "a\x00b", "bad-\xff"} {
		if err := s.Privacy.RecordIdentityLink(ctx, id, "anon-1"); !errors.Is(err, dowser.ErrUnstorableID) {
			t.Errorf("RecordIdentityLink(%.20q…) = %v, want ErrUnstorableID", id, err)
		}
		if err := s.Privacy.RecordIdentityLink(ctx, "c-1", id); !errors.Is(err, dowser.ErrUnstorableID) {
			t.Errorf("RecordIdentityLink(c-1, %.20q…) = %v, want ErrUnstorableID", id, err)
		}
	}
	if err := s.Privacy.RecordIdentityLink(ctx, strings.Repeat("y", postgres.MaxLinkedIDBytes), "anon-1"); err != nil {
		t.Errorf("an id of the longest length: %v", err)
	}
}
