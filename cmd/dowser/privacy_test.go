package main

import (
	"context"
	"os"
	"strings"
	"testing"
)

func TestPrivacyKeyFlagsAreCheckedUpFront(t *testing.T) {
	base := serveConfig{DatabaseURL: "postgres://unused", EventsTopic: "e", AlertsTopic: "a", Partitions: 1}
	for _, c := range []struct {
		key, file, want string
	}{
		{"short", "", "--privacy-key: the key has 5 bytes, want at least 32"},
		{strings.Repeat("k", 32), "/etc/key", "both set"},
	} {
		cfg := base
		cfg.PrivacyKey, cfg.PrivacyKeyFile = c.key, c.file
		if _, err := newApp(cfg, nil, nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("key %q, file %q: err = %v, want %q", c.key, c.file, err, c.want)
		}
	}
	dir := t.TempDir()
	file := dir + "/key"
	if err := os.WriteFile(file, []byte("  "+strings.Repeat("f", 40)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	key, err := resolvePrivacyKey(context.Background(), "", file, nil)
	if err != nil || string(key) != strings.Repeat("f", 40) {
		t.Errorf("key from file = %q, %v; want it without the white space", key, err)
	}
	if err := os.WriteFile(file, []byte("tiny"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := resolvePrivacyKey(context.Background(), "", file, nil); err == nil || !strings.Contains(err.Error(), "--privacy-key-file "+file+": the key has 4 bytes") {
		t.Errorf("a short key file: err = %v", err)
	}
}
