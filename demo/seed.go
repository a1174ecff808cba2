package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"time"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/deploy"
	"github.com/dowserhq/dowser/detector"
	"github.com/dowserhq/dowser/postgres"
)

// Stores are where [Seed] writes the demo's data: postgres's People,
// Directory and Signals.
type Stores struct {
	People interface {
		PutUser(ctx context.Context, u dowser.User, token string) error
		Subscribe(ctx context.Context, managerID, repID string) error
	}
	Directory interface {
		PutAccount(ctx context.Context, a dowser.Account) error
		PutContent(ctx context.Context, c dowser.Content) error
		Import(ctx context.Context, kind string, columns []string, rows [][]string) (int, error)
	}
	Signals interface {
		GetSignal(ctx context.Context, id string) (dowser.StoredSignal, error)
		SaveSignal(ctx context.Context, id string, document json.RawMessage, source, by string, enabled bool) (int, error)
		ListSignals(ctx context.Context) ([]dowser.StoredSignal, error)
		DeleteSignal(ctx context.Context, id, by string) error
	}
	// Stages, when not nil, gets the default stage model (DefaultStages)
	// unless one was saved already.
	Stages interface {
		StageModel(ctx context.Context) (dowser.StageModel, error)
		SaveStageModel(ctx context.Context, m dowser.StageModel, by string) (dowser.StageModel, error)
	}
}

// StoresOf returns the stores of s that Seed writes to.
func StoresOf(s *postgres.Store) Stores {
	return Stores{People: s.People, Directory: s.Directory, Signals: s.Signals, Stages: s.Alerts}
}

// Seed writes the demo users, accounts, content and the default signal
// pack, and deletes the signals an earlier demo seeded that the pack no
// longer has (those a person saved since are theirs and stay). It is
// idempotent: a signal whose text is unchanged keeps its version.
func Seed(ctx context.Context, store Stores, log *slog.Logger) error {
	start := time.Now()
	for _, u := range users {
		if err := store.People.PutUser(ctx, u.User, u.token); err != nil {
			return err
		}
	}
	for _, f := range follows {
		if err := store.People.Subscribe(ctx, f[0], f[1]); err != nil {
			return fmt.Errorf("seeding %s following %s: %w", f[0], f[1], err)
		}
	}
	for i := range accountIDs {
		if err := store.Directory.PutAccount(ctx, account(i)); err != nil {
			return err
		}
	}
	for _, c := range content {
		if err := store.Directory.PutContent(ctx, c); err != nil {
			return err
		}
	}
	contacts, err := store.Directory.Import(ctx, dowser.KindContacts, ContactColumns(), ContactRows())
	if err != nil {
		return fmt.Errorf("seeding contacts: %w", err)
	}
	files, err := fs.Glob(deploy.Signals, "signals/*.yaml")
	if err != nil {
		return fmt.Errorf("listing the signal pack: %w", err)
	}
	pack := map[string]bool{}
	for _, f := range files {
		src, err := fs.ReadFile(deploy.Signals, f)
		if err != nil {
			return fmt.Errorf("reading %s: %w", f, err)
		}
		sig, err := detector.ParseSignal(src)
		if err != nil {
			return fmt.Errorf("signal pack %s: %w", f, err)
		}
		pack[sig.ID] = true
		if cur, err := store.Signals.GetSignal(ctx, sig.ID); err == nil && cur.Source == string(src) {
			continue
		}
		doc, err := json.Marshal(sig)
		if err != nil {
			return fmt.Errorf("encoding %s: %w", f, err)
		}
		if _, err := store.Signals.SaveSignal(ctx, sig.ID, doc, string(src), "demo", true); err != nil {
			return err
		}
	}
	stored, err := store.Signals.ListSignals(ctx)
	if err != nil {
		return err
	}
	var removed []string
	for _, s := range stored {
		if s.UpdatedBy == "demo" && !pack[s.ID] {
			if err := store.Signals.DeleteSignal(ctx, s.ID, "demo"); err != nil {
				return err
			}
			removed = append(removed, s.ID)
		}
	}
	if err := seedStages(ctx, store); err != nil {
		return err
	}
	log.Info("demo data seeded", "users", len(users), "accounts", len(accountIDs), "content", len(content), "contacts", contacts,
		"signals", len(files), "signals_removed", removed, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// PrintBanner tells the person who started the demo where its alert panel
// is and which tokens log in.
func PrintBanner(w io.Writer, httpAddr string) {
	fmt.Fprintf(w, "\n  Dowser demo is running.\n\n  Alert panel:  http://%s/\n\n  Log in with one of these tokens:\n", httpAddr)
	for _, u := range users {
		fmt.Fprintf(w, "    %-22s %-9s %s\n", u.token, u.Role, u.Name)
	}
	fmt.Fprintf(w, "\n  Alerts start arriving within a minute. Ctrl-C stops the demo.\n\n")
}
