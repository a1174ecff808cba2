package main

import (
	"context"
	"fmt"

	"github.com/dowserhq/dowser/envflag"
	"github.com/dowserhq/dowser/postgres"
)

// resolvePrivacyKey returns the privacy key: the one given (inline or in
// a file), else the one kept in the database, created by the first
// instance. Every instance must use the same key. newApp has refused
// both flags set.
func resolvePrivacyKey(ctx context.Context, inline, file string, store *postgres.Store) ([]byte, error) {
	key, err := envflag.Secret("--privacy-key", inline, file)
	if err != nil {
		return nil, err
	}
	if len(key) == 0 {
		return store.Privacy.PrivacyKey(ctx)
	}
	what := "--privacy-key"
	if file != "" {
		what = "--privacy-key-file " + file
	}
	if err := postgres.CheckPrivacyKey(key); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return key, nil
}
