package main

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dowserhq/dowser/detector"
	"github.com/dowserhq/dowser/postgres/pgtest"
	"github.com/dowserhq/dowser/schema"
)

// TestEndToEndUpgradeRestoresAWholeStateCheckpoint: a partition whose
// checkpoint an older build saved as one whole-state snapshot resumes from
// it after the upgrade (its windows count: the third pricing view fires),
// and its first checkpoint rewrites the state as rows and clears the
// snapshot.
func TestEndToEndUpgradeRestoresAWholeStateCheckpoint(t *testing.T) {
	db := pgtest.URL(t)
	onDB := func(c *serveConfig) { c.DatabaseURL = db }
	ctx := context.Background()

	// The service as it was: people, accounts, the signal, the claims.
	old := startApp(t, onDB)
	old.seed()
	sigs, _ := old.pipe.Signals()
	partition := partitionOf("acme", 3)
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// Ready means consuming, not assigned: the claim comes with the
	// group's assignment, which a busy machine may take longer to make.
	awaitCond(t, time.Minute, "the old service claimed acme's partition", func() bool {
		var n int
		err := conn.QueryRow(ctx, `SELECT count(*) FROM checkpoints WHERE group_id = 'dowser' AND topic = 'dowser.events' AND partition = $1`, partition).Scan(&n)
		return err == nil && n == 1
	})
	old.stop()

	// What an older build saved for acme's partition: two pricing views,
	// as a whole-state snapshot at offset 0 of a new topic.
	engine := detector.New(sigs)
	now := time.Now()
	for i, at := range []time.Time{now.Add(-5 * time.Minute), now.Add(-4 * time.Minute)} {
		engine.Evaluate(&schema.Event{
			ID: "evt-before-upgrade-" + string(rune('a'+i)), Type: schema.TypePageView, Time: at, Source: "test",
			Customer:   schema.Customer{ID: "c-1", AccountID: "acme", Lifecycle: schema.LifecycleProspect},
			Properties: map[string]any{"url": "https://example.com/pricing", "title": "Pricing"}, ContentID: "pricing-page",
		})
	}
	legacy, err := engine.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var id int64
	err = conn.QueryRow(ctx, `UPDATE checkpoints SET state = $1, meta = '', next_offset = 0
		WHERE group_id = 'dowser' AND topic = 'dowser.events' AND partition = $2 RETURNING id`, legacy, partition).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `DELETE FROM checkpoint_log WHERE checkpoint_id = $1`, id); err != nil {
		t.Fatal(err)
	}

	// The upgraded service: the third view fires.
	app := startApp(t, onDB)
	ana := app.connect("rep-ana")
	app.produce(app.writer(), kv(pricingView("acme", "c-2", now.Add(-3*time.Minute))))
	_, a := ana.nextAlert(10 * time.Second)
	if count := a["count"]; count != 3.0 {
		t.Errorf("alert count = %v, want 3 (two views from the old checkpoint)", count)
	}

	// Its first checkpoint wrote rows and dropped the snapshot.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var legacyBytes, rows int
		err := conn.QueryRow(ctx, `SELECT length(state), (SELECT count(*) FROM checkpoint_log WHERE checkpoint_id = $1)
			FROM checkpoints WHERE id = $1`, id).Scan(&legacyBytes, &rows)
		if err != nil {
			t.Fatal(err)
		}
		if legacyBytes == 0 && rows > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s the checkpoint still holds %d snapshot bytes and %d rows", legacyBytes, rows)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
