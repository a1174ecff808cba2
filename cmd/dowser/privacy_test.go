package main

import (
	"context"
	"os"
	"strings"
	"testing"
)

func TestEvidenceURLKeepsOnlyAllowedParameters(t *testing.T) {
	p := &privacy{keepParams: map[string]bool{"utm_campaign": true}}
	for _, c := range []struct{ in, want string }{
		{"https://x.example/pricing?email=ann%40example.com&utm_campaign=spring#plans", "https://x.example/pricing?utm_campaign=spring"},
		{"https://x.example/pricing?email=ann@example.com", "https://x.example/pricing"},
		{"https://ann:secret@x.example/a?", "https://x.example/a"},
		{"/pricing?token=abc", "/pricing"},
		{"https://x.example/pricing", "https://x.example/pricing"},
		{"https://x.example/%zz?email=a@b", "https://x.example/%zz"}, // unparseable: cut at ?
		{"", ""},
	} {
		if got := p.evidenceURL(c.in); got != c.want {
			t.Errorf("evidenceURL(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	// With nothing to keep, every parameter goes.
	none := &privacy{}
	for _, c := range []struct{ in, want string }{
		{"https://x.example/pricing?utm_campaign=spring#plans", "https://x.example/pricing"},
		{"https://x.example/pricing#plans?x", "https://x.example/pricing"},
		{"https://ann@x.example/pricing?e=a@b", "https://x.example/pricing"},
	} {
		if got := none.evidenceURL(c.in); got != c.want {
			t.Errorf("evidenceURL(%q) without parameters to keep = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestPseudonymHidesTheIDButKeepsTheKind(t *testing.T) {
	p := &privacy{key: []byte("k-0123456789abcdef0123456789abcdef")}
	got := p.pseudonym("customer:c-42")
	if !strings.HasPrefix(got, "customer:~") || strings.Contains(got, "c-42") || len(got) != len("customer:~")+16 {
		t.Errorf("pseudonym = %q", got)
	}
	if got != p.pseudonym("customer:c-42") || got == (&privacy{key: []byte("another-key-0123456789abcdef0123")}).pseudonym("customer:c-42") {
		t.Error("pseudonyms must be stable under one key and differ under another")
	}
}

// The cleaner runs once per event that some signal keeps as evidence.
func BenchmarkEvidenceURL(b *testing.B) {
	p := &privacy{keepParams: map[string]bool{"utm_campaign": true}}
	for name, u := range map[string]string{
		"plain": "https://x.example/pricing",
		"query": "https://x.example/pricing?email=ann%40example.com&utm_campaign=spring#plans",
	} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				p.evidenceURL(u)
			}
		})
	}
}

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
