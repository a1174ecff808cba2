package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/dowserhq/dowser/postgres"
)

// resolvePrivacyKey returns the privacy key: the one given (inline or in
// a file), else the one kept in the database, created by the first
// instance. Every instance must use the same key.
func resolvePrivacyKey(ctx context.Context, inline, file string, store *postgres.Store) ([]byte, error) {
	if inline != "" && file != "" {
		return nil, errors.New("--privacy-key and --privacy-key-file are both set; set one")
	}
	key := []byte(inline)
	what := "--privacy-key"
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("--privacy-key-file: %w", err)
		}
		key = []byte(strings.TrimSpace(string(b)))
		what = "--privacy-key-file " + file
	}
	if len(key) == 0 {
		return store.Privacy.PrivacyKey(ctx)
	}
	if err := postgres.CheckPrivacyKey(key); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return key, nil
}
