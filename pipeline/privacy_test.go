package pipeline

import (
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
