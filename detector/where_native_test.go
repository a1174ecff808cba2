package detector

import (
	"math"
	"math/rand/v2"
	"regexp"
	"regexp/syntax"
	"strings"
	"testing"
)

// TestPropertyMatchAgreesWithCEL checks that the native evaluation of
// event.properties.?name.orValue(…).matches(…) answers as CEL does, and
// leaves to CEL what it cannot be sure of.
func TestPropertyMatchAgreesWithCEL(t *testing.T) {
	long := strings.Repeat("(a|b)", 320) // 1,600 bytes: a regex that costs 400 per 10 runes
	exprs := []string{
		`event.properties.?url.orValue("").matches("/(pricing|compare|docs/integrations/)")`,
		`event.properties.?url.orValue("/pricing").matches("^/pricing$")`,
		`event.properties.?title.orValue("").matches("(?i)prix|précis")`,
		`event.properties.?url.orValue("").matches("` + long + `")`,
	}
	values := []any{nil, "", "https://x.example/pricing", "/compare/x", "/docs/integrations/", "/pricing", "Précis", "PRIX",
		12.0, true, []any{"/pricing"}, map[string]any{"a": "/pricing"}, strings.Repeat("ab", 1300), strings.Repeat("ab", 1229) + "a",
		strings.Repeat("é", 3000)}
	for _, src := range exprs {
		w, err := compileWhere(src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if w.prop == nil {
			t.Fatalf("%s: not recognized", src)
		}
		if src == exprs[0] && w.prop.literals == nil {
			t.Errorf("%s: its regexp is not seen as literals", src)
		}
		for i, v := range append(values, absent{}) {
			for _, name := range []string{"url", "title"} {
				ev := at("e", 0)
				ev.Properties = map[string]any{"other": "/pricing"}
				if _, ok := v.(absent); !ok {
					ev.Properties[name] = v
				}
				x := &evalCtx{}
				x.reset(ev, link{})
				fast, ok := w.prop.eval(ev.Properties)
				slow := x.evalWhere(&whereProgram{prg: w.prg})
				if ok && fast != slow {
					t.Errorf("%s on %s=%.40v (value %d): native %v, CEL %v", src, name, v, i, fast, slow)
				}
				if s, isString := v.(string); (isString || v == absent{}) && len(s) <= w.prop.maxLen && !ok {
					t.Errorf("%s on %s=%.40v: native declined", src, name, v)
				}
			}
		}
	}
	// The longest string the native match takes is within CEL's cost
	// limit, and a much longer one is not.
	w, _ := compileWhere(exprs[3])
	ev := at("e", 0)
	x := &evalCtx{}
	for _, n := range []int{w.prop.maxLen, 40 * w.prop.maxLen} {
		ev.Properties = map[string]any{"url": strings.Repeat("a", n)}
		x.reset(ev, link{})
		_, ok := w.prop.eval(ev.Properties)
		if got, want := x.evalWhere(&whereProgram{prg: w.prg}), n == w.prop.maxLen; got != want || ok != want {
			t.Errorf("%d bytes: CEL %v, native ok %v; want %v", n, got, ok, want)
		}
	}

	for _, src := range []string{
		`event.properties.?url.orValue("").contains("/pricing")`,
		`event.properties.url.matches("/pricing")`,
		`event.properties.?url.orValue(event.type).matches("/pricing")`,
		`[1].exists(event, event == 1) || event.properties.?url.orValue("").matches("/pricing")`,
	} {
		w, err := compileWhere(src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if w.prop != nil {
			t.Errorf("%s: recognized as %+v", src, *w.prop)
		}
	}
}

type absent struct{}

func (absent) String() string { return "(absent)" }

// TestLiteralsMatchAsTheRegexp checks that a regexp that literalsOf
// expands matches exactly the strings containing one of its literals,
// over random strings with multi-byte and invalid UTF-8.
func TestLiteralsMatchAsTheRegexp(t *testing.T) {
	patterns := map[string]bool{ // whether literalsOf expands it
		"/(pricing|compare|docs/integrations/)": true,
		"ab":                                    true,
		"a(b|c)d":                               true,
		"x[abc]y|é":                             true,
		"(a|)b":                                 true,
		"€[a-c]":                                true,
		"(?i)ab":                                false,
		"^ab":                                   false,
		"a.b":                                   false,
		"ab*":                                   false,
		"[^a]":                                  false,
		"\\bab":                                 false,
		"[a-z]":                                 false, // more than maxLiterals
	}
	alphabet := []string{"a", "b", "c", "d", "x", "y", "/", "é", "€", "\xe2", "\x82", "\xac", "\xff", "pricing", "compare", "docs/integrations/"}
	rng := rand.New(rand.NewPCG(7, 8))
	for pattern, expands := range patterns {
		syn, err := syntax.Parse(pattern, syntax.Perl)
		if err != nil {
			t.Fatal(err)
		}
		literals, ok := literalsOf(syn.Simplify())
		if ok != expands {
			t.Errorf("%q: expanded %v (%q), want %v", pattern, ok, literals, expands)
			continue
		}
		if !ok {
			continue
		}
		re := regexp.MustCompile(pattern)
		for range 20000 {
			var b strings.Builder
			for range rng.IntN(8) {
				b.WriteString(alphabet[rng.IntN(len(alphabet))])
			}
			s := b.String()
			m := &propertyMatch{re: re, literals: literals, maxLen: math.MaxInt}
			got, _ := m.eval(map[string]any{"": s})
			if want := re.MatchString(s); got != want {
				t.Fatalf("%q on %q: literals %q say %v, the regexp %v", pattern, s, literals, got, want)
			}
		}
	}
}
