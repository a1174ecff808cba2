package detector

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

const briefYAML = `id: pricing-research
name: Pricing research
owner: mkt-jane                # marketer responsible
audience: prospect
scope: account
priority: high
when:
  threshold:
    match: {type: page_view, url: "*/pricing*"}
    count: 3
    within: 7d
cooldown: 72h
message: "{{.Account}}: pricing viewed {{.Count}} times in 7 days"
`

const briefJSON = `{
	"id": "pricing-research",
	"name": "Pricing research",
	"owner": "mkt-jane",
	"audience": "prospect",
	"scope": "account",
	"priority": "high",
	"when": {"threshold": {"match": {"type": "page_view", "url": "*/pricing*"}, "count": 3, "within": "7d"}},
	"cooldown": "72h",
	"message": "{{.Account}}: pricing viewed {{.Count}} times in 7 days"
}`

func TestParseSignalValid(t *testing.T) {
	want := Signal{
		ID: "pricing-research", Name: "Pricing research", Owner: "mkt-jane",
		Audience: "prospect", Scope: "account", Priority: "high",
		Cooldown: Duration(72 * time.Hour),
		Message:  "{{.Account}}: pricing viewed {{.Count}} times in 7 days",
	}
	wantThreshold := Threshold{
		Match: Match{Type: "page_view", URL: "*/pricing*"}, Count: 3, Within: Duration(7 * 24 * time.Hour),
	}
	for _, tc := range []struct{ name, doc string }{
		{"yaml", briefYAML},
		{"json", briefJSON},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseSignal([]byte(tc.doc))
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if s.When.Threshold == nil {
				t.Fatal("got no threshold")
			}
			if got := *s.When.Threshold; got != wantThreshold {
				t.Errorf("got threshold %+v, want %+v", got, wantThreshold)
			}
			got := *s
			got.When = When{}
			if got != want {
				t.Errorf("got %+v, want %+v", got, want)
			}
		})
	}
}

func TestParseSignalDefaults(t *testing.T) {
	s, err := ParseSignal([]byte(`
id: webinar
owner: mkt-sam
when:
  threshold:
    match: {content_id: kafka-webinar}
    count: 1
    within: 36h
`))
	if err != nil {
		t.Fatalf("got error %v, want none", err)
	}
	for _, c := range []struct{ field, got, want string }{
		{"name", s.Name, "webinar"},
		{"audience", s.Audience, AudienceAny},
		{"scope", s.Scope, ScopeCustomer},
		{"priority", s.Priority, "medium"},
		{"cooldown", s.Cooldown.String(), "1d12h"},
		{"message", s.Message, DefaultMessage},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.field, c.got, c.want)
		}
	}
	if s.Version != 0 {
		t.Errorf("version: got %d, want 0", s.Version)
	}

	// An explicit zero cooldown is kept, not defaulted.
	s, err = ParseSignal([]byte("id: a\nowner: o\ncooldown: 0s\nwhen: {threshold: {match: {type: x}, count: 1, within: 1h}}\n"))
	if err != nil {
		t.Fatalf("got error %v, want none", err)
	}
	if s.Cooldown != 0 {
		t.Errorf("cooldown: got %s, want 0s", s.Cooldown)
	}
}

// validDoc is a minimal valid signal, line by line, for the problem cases
// to edit.
var validDoc = []string{
	"id: p",
	"owner: o",
	"when:",
	"  threshold:",
	"    match: {type: page_view}",
	"    count: 3",
	"    within: 7d",
}

// edit returns validDoc with the lines starting with a key of replace
// replaced by its value (removed when empty), and extra lines appended.
func edit(replace map[string]string, extra ...string) string {
	var lines []string
	for _, l := range validDoc {
		key := strings.SplitN(strings.TrimSpace(l), ":", 2)[0]
		if r, ok := replace[key]; ok {
			if r != "" {
				lines = append(lines, r)
			}
			continue
		}
		lines = append(lines, l)
	}
	return strings.Join(append(lines, extra...), "\n") + "\n"
}

func TestParseSignalProblems(t *testing.T) {
	long := strings.Repeat("a", 65)
	tests := []struct {
		name string
		doc  string
		want []string // "path: reason", in order
	}{
		{"missing id", edit(map[string]string{"id": ""}), []string{"id: is required"}},
		{"uppercase id", edit(map[string]string{"id": "id: Pricing"}), []string{
			`id: "Pricing" is not a valid id: lowercase letters, digits, '_', '.' and '-', starting with a letter or digit, at most 64 characters`}},
		{"long id", edit(map[string]string{"id": "id: " + long}), []string{
			`id: "` + long + `" is not a valid id: lowercase letters, digits, '_', '.' and '-', starting with a letter or digit, at most 64 characters`}},
		{"missing owner", edit(map[string]string{"owner": ""}), []string{"owner: is required"}},
		{"blank owner", edit(map[string]string{"owner": `owner: " "`}), []string{"owner: is required"}},
		{"audience", edit(nil, "audience: all"), []string{`audience: "all" is not one of prospect, customer, any`}},
		{"scope", edit(nil, "scope: team"), []string{`scope: "team" is not one of customer, account`}},
		{"priority", edit(nil, "priority: critical"), []string{`priority: "critical" is not one of low, medium, high, urgent`}},
		{"missing when", "id: p\nowner: o\n", []string{"when: exactly one of threshold, sequence, score is required"}},
		{"empty when", "id: p\nowner: o\nwhen: {}\n", []string{"when: exactly one of threshold, sequence, score is required"}},
		{"sequence", "id: p\nowner: o\nwhen:\n  sequence: [{match: {type: a}}]\n", []string{"when.sequence: not supported yet"}},
		{"score", "id: p\nowner: o\nwhen:\n  score: {level: 10}\n", []string{"when.score: not supported yet"}},
		{"threshold and score", edit(nil, "  score: {level: 10}"), []string{
			"when.score: not supported yet",
			"when: exactly one of threshold, sequence, score is required"}},
		{"count zero", edit(map[string]string{"count": "    count: 0"}), []string{"when.threshold.count: must be between 1 and 10000, got 0"}},
		{"count too big", edit(map[string]string{"count": "    count: 10001"}), []string{"when.threshold.count: must be between 1 and 10000, got 10001"}},
		{"count missing", edit(map[string]string{"count": ""}), []string{"when.threshold.count: is required"}},
		{"count not an integer", edit(map[string]string{"count": "    count: three"}), []string{`when.threshold.count: must be an integer, got "three" (line 6)`}},
		{"count a float", edit(map[string]string{"count": "    count: 2.5"}), []string{`when.threshold.count: must be an integer, got "2.5" (line 6)`}},
		{"within not a duration", edit(map[string]string{"within": "    within: 7x"}), []string{`when.threshold.within: "7x" is not a duration`}},
		{"within zero", edit(map[string]string{"within": "    within: 0s"}), []string{"when.threshold.within: must be more than 0, got 0s"}},
		{"within negative", edit(map[string]string{"within": "    within: -1h"}), []string{"when.threshold.within: must be more than 0, got -1h"}},
		{"within too long", edit(map[string]string{"within": "    within: 401d"}), []string{"when.threshold.within: must be at most 400d, got 401d"}},
		{"within missing", edit(map[string]string{"within": ""}), []string{"when.threshold.within: is required"}},
		{"within a list", edit(map[string]string{"within": "    within: [7d]"}), []string{"when.threshold.within: must be a duration, got a list (line 7)"}},
		{"empty match", edit(map[string]string{"match": "    match: {}"}), []string{"when.threshold.match: at least one of type, url, content_id is required"}},
		{"missing match", edit(map[string]string{"match": ""}), []string{"when.threshold.match: at least one of type, url, content_id is required"}},
		{"match type", edit(map[string]string{"match": "    match: {type: Page View}"}), []string{`when.threshold.match.type: "Page View" is not a lowercase event type`}},
		{"match keywords", edit(map[string]string{"match": "    match: {keywords: [kafka]}"}), []string{"when.threshold.match.keywords: not supported yet"}},
		{"match where", edit(map[string]string{"match": "    match: {type: page_view, where: 'true'}"}), []string{"when.threshold.match.where: not supported yet"}},
		{"match unknown", edit(map[string]string{"match": "    match: {type: page_view, title: Pricing}"}), []string{"when.threshold.match.title: unknown field (line 5)"}},
		{"distinct", edit(nil, "    distinct: properties.url"), []string{"when.threshold.distinct: not supported yet"}},
		{"cooldown negative", edit(nil, "cooldown: -1h"), []string{"cooldown: must not be negative, got -1h"}},
		{"cooldown too long", edit(nil, "cooldown: 500d"), []string{"cooldown: must be at most 400d, got 500d"}},
		{"cooldown not a duration", edit(nil, "cooldown: soon"), []string{`cooldown: "soon" is not a duration`}},
		{"message syntax", edit(nil, "message: '{{.Count'"), []string{"message: template: message:1: unclosed action"}},
		{"message unknown field", edit(nil, "message: '{{.Acount}}'"), []string{
			`message: template: message:1:2: executing "message" at <.Acount>: can't evaluate field Acount in type *detector.MessageData`}},
		{"message unknown evidence field", edit(nil, "message: '{{range .Evidence}}{{.Link}}{{end}}'"), []string{
			`message: template: message:1:21: executing "message" at <.Link>: can't evaluate field Link in type schema.Evidence`}},
		{"message too long", edit(nil, "message: "+strings.Repeat("x", 2049)), []string{"message: is 2049 bytes, at most 2048 allowed"}},
		{"message ranges over a number", edit(nil, "message: '{{range 1000000000}}{{end}}'"), []string{"message: line 1: range is only allowed over .Evidence"}},
		{"message nests ranges", edit(nil, "message: '{{range .Evidence}}{{range $.Evidence}}x{{end}}{{end}}'"), []string{"message: line 1: range inside a range is not allowed"}},
		{"message defines a template", edit(nil, `message: '{{define "x"}}{{template "x"}}{{end}}'`), []string{"message: defining templates is not allowed"}},
		{"message calls a template", edit(nil, `message: '{{template "message" .}}'`), []string{"message: line 1: calling templates is not allowed"}},
		{"name a mapping", edit(nil, "name: {en: Pricing}"), []string{"name: must be a string, got a mapping (line 8)"}},
		{"unknown field", edit(nil, "colour: red"), []string{"colour: unknown field (line 8)"}},
		{"version is not in the document", edit(nil, "version: 3"), []string{"version: unknown field (line 8)"}},
		{"repeated field", edit(nil, "owner: p"), []string{"owner: repeated field (line 8, first at line 2)"}},
		{"when a list", "id: p\nowner: o\nwhen:\n  - threshold: {}\n", []string{"when: must be a mapping, got a list (line 4)"}},
		{"threshold a string", "id: p\nowner: o\nwhen:\n  threshold: often\n", []string{`when.threshold: must be a mapping, got "often" (line 4)`}},
		{"not a mapping", "- id: p\n", []string{"a signal must be a mapping, got a list (line 1)"}},
		{"empty", "", []string{"empty document"}},
		{"only a comment", "# nothing\n", []string{"empty document"}},
		{"two documents", edit(nil, "---", "id: q"), []string{"more than one document (line 8)"}},
		{"syntax", "id: p\n  owner: o\n", []string{"line 2: mapping values are not allowed in this context"}},
		{"json syntax", "{\n  \"id\": \"p\",\n  \"owner\": \"o\"\n", []string{"line 3: did not find expected ',' or '}'"}},
		{"json within", `{"id": "p", "owner": "o", "when": {"threshold": {"match": {"type": "page_view"}, "count": 3, "within": "7x"}}}`,
			[]string{`when.threshold.within: "7x" is not a duration`}},
		{"json count a string", `{"id": "p", "owner": "o", "when": {"threshold": {"match": {"type": "page_view"}, "count": "3", "within": "7d"}}}`,
			[]string{`when.threshold.count: must be an integer, got "3" (line 1)`}},
		{"all at once", "id: P\nfoo: 1\nwhen:\n  threshold:\n    match: {}\n    count: x\n    within: 7x\ncooldown: -1h\npriority: critical\n", []string{
			"foo: unknown field (line 2)",
			`when.threshold.count: must be an integer, got "x" (line 6)`,
			`when.threshold.within: "7x" is not a duration`,
			`id: "P" is not a valid id: lowercase letters, digits, '_', '.' and '-', starting with a letter or digit, at most 64 characters`,
			"owner: is required",
			`priority: "critical" is not one of low, medium, high, urgent`,
			"when.threshold.match: at least one of type, url, content_id is required",
			"cooldown: must not be negative, got -1h",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseSignal([]byte(tc.doc))
			if s != nil {
				t.Errorf("got signal %+v, want nil", s)
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("got error %v (%T), want a *ValidationError", err, err)
			}
			var got []string
			for _, p := range ve.Problems {
				got = append(got, p.Error())
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got problems\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(tc.want, "\n\t"))
			}
			if want := strings.Join(tc.want, "; "); err.Error() != want {
				t.Errorf("got error %q, want %q", err.Error(), want)
			}
		})
	}
}

func TestValidationErrorPaths(t *testing.T) {
	_, err := ParseSignal([]byte(edit(map[string]string{"within": "    within: 7x"})))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("got %v, want a *ValidationError", err)
	}
	want := []FieldError{{Path: "when.threshold.within", Reason: `"7x" is not a duration`}}
	if len(ve.Problems) != 1 || ve.Problems[0] != want[0] {
		t.Errorf("got %+v, want %+v", ve.Problems, want)
	}
}

func TestSignalHash(t *testing.T) {
	parse := func(doc string) *Signal {
		t.Helper()
		s, err := ParseSignal([]byte(doc))
		if err != nil {
			t.Fatalf("parsing %q: %v", doc, err)
		}
		return s
	}
	base := parse(edit(nil))
	explicit := parse(edit(nil, "name: p", "audience: any", "scope: customer", "priority: medium",
		"cooldown: 168h", "message: '"+DefaultMessage+"'"))
	yamlSig, jsonSig := parse(briefYAML), parse(briefJSON)
	if yamlSig.Hash() != jsonSig.Hash() {
		t.Errorf("YAML and JSON of one signal: got hashes %s and %s, want equal", yamlSig.Hash(), jsonSig.Hash())
	}
	if base.Hash() != explicit.Hash() {
		t.Errorf("defaults left out and spelt out: got hashes %s and %s, want equal", base.Hash(), explicit.Hash())
	}
	if base.Hash() != base.Hash() {
		t.Error("hash is not stable")
	}
	versioned := *base
	versioned.Version = 7
	if versioned.Hash() != base.Hash() {
		t.Error("hash depends on the version")
	}
	changed := parse(edit(map[string]string{"count": "    count: 4"}))
	if changed.Hash() == base.Hash() {
		t.Error("changing the count did not change the hash")
	}
}

func TestSignalRoundTrip(t *testing.T) {
	s, err := ParseSignal([]byte(briefYAML))
	if err != nil {
		t.Fatal(err)
	}
	for _, enc := range []struct {
		name   string
		encode func(any) ([]byte, error)
	}{
		{"json", json.Marshal},
		{"yaml", yaml.Marshal},
	} {
		doc, err := enc.encode(s)
		if err != nil {
			t.Fatalf("%s: %v", enc.name, err)
		}
		again, err := ParseSignal(doc)
		if err != nil {
			t.Fatalf("%s: parsing %s: %v", enc.name, doc, err)
		}
		if again.Hash() != s.Hash() {
			t.Errorf("%s: round trip through %s changed the hash", enc.name, doc)
		}
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		str  string
	}{
		{"7d", 7 * 24 * time.Hour, "7d"},
		{"36h", 36 * time.Hour, "1d12h"},
		{"90m", 90 * time.Minute, "1h30m"},
		{"1d12h", 36 * time.Hour, "1d12h"},
		{"1.5d", 36 * time.Hour, "1d12h"},
		{"2d30m", 48*time.Hour + 30*time.Minute, "2d30m"},
		{"45s", 45 * time.Second, "45s"},
		{"10s", 10 * time.Second, "10s"},
		{"1h0m10s", time.Hour + 10*time.Second, "1h0m10s"},
		{"500ms", 500 * time.Millisecond, "500ms"},
		{"0", 0, "0s"},
		{"0s", 0, "0s"},
		{"0d", 0, "0s"},
		{"-1d", -24 * time.Hour, "-1d"},
		{"+2h", 2 * time.Hour, "2h"},
		{"400d", 400 * 24 * time.Hour, "400d"},
	}
	for _, tc := range tests {
		got, err := ParseDuration(tc.in)
		if err != nil || time.Duration(got) != tc.want {
			t.Errorf("ParseDuration(%q): got %v, %v, want %v", tc.in, time.Duration(got), err, tc.want)
			continue
		}
		if got.String() != tc.str {
			t.Errorf("Duration(%q).String(): got %q, want %q", tc.in, got.String(), tc.str)
		}
		back, err := ParseDuration(got.String())
		if err != nil || back != got {
			t.Errorf("ParseDuration(%q): got %v, %v, want %v", got.String(), back, err, got)
		}
	}
	for _, in := range []string{"", "7x", "d", "7", "1h2d", "1d-2h", "1d1d", "7days", "x1d", "999999999d"} {
		if got, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q): got %v, want an error", in, got)
		} else if want := `"` + in + `" is not a duration`; err.Error() != want {
			t.Errorf("ParseDuration(%q): got error %q, want %q", in, err, want)
		}
	}
}

func TestDurationText(t *testing.T) {
	var d Duration
	if err := json.Unmarshal([]byte(`"1d6h"`), &d); err != nil || time.Duration(d) != 30*time.Hour {
		t.Errorf("unmarshal: got %v, %v, want 30h", time.Duration(d), err)
	}
	if err := json.Unmarshal([]byte(`"7x"`), &d); err == nil {
		t.Error("unmarshal 7x: got no error")
	}
	b, err := json.Marshal(Duration(30 * time.Hour))
	if err != nil || string(b) != `"1d6h"` {
		t.Errorf("marshal: got %s, %v, want \"1d6h\"", b, err)
	}
}

func TestGlob(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"*/pricing*", "https://example.com/pricing", true},
		{"*/pricing*", "https://example.com/en/pricing?plan=team", true},
		{"*/pricing*", "https://example.com/Pricing", false},
		{"*/pricing*", "pricing", false},
		{"https://example.com/pricing", "https://example.com/pricing", true},
		{"https://example.com/pricing", "https://example.com/pricing/", false},
		{"https://example.com/*", "https://example.com/a/b/c", true},
		{"https://example.com/*", "https://example.org/a", false},
		{"*.pdf", "https://example.com/guide.pdf", true},
		{"*.pdf", "https://example.com/guide.pdf?x", false},
		{"*", "", true},
		{"**", "anything/at/all", true},
		{"", "", true},
		{"", "x", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"a?c", "abbc", false},
		{"a?c", "aéc", true},
		{"*/docs/*/kafka*", "https://example.com/docs/v2/kafka-connect", true},
		{"*/docs/*/kafka*", "https://example.com/docs/kafka", false},
		{"*a*b*c", "xaxbxbxc", true},
		{"*a*b*c", "xaxbxbxcx", false},
		{"*?", "", false},
		{"*?", "é", true},
		{"a*a*a*a*b", strings.Repeat("a", 50), false},
	}
	for _, tc := range tests {
		g := compileGlob(tc.pattern)
		if got := g.match(tc.s); got != tc.want {
			t.Errorf("glob %q on %q: got %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
		if got := matchGeneral(g.pattern, tc.s); got != tc.want {
			t.Errorf("general glob %q on %q: got %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

func FuzzParseSignal(f *testing.F) {
	for _, seed := range []string{briefYAML, briefJSON, edit(nil), "when: {sequence: *a}", "a: &a [*a]", "- 1"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSignal(data)
		if (s == nil) == (err == nil) {
			t.Fatalf("got signal %v and error %v, want exactly one", s, err)
		}
		if s != nil {
			// A valid signal always evaluates.
			New([]*Signal{s}).Evaluate(view("e1", 0))
		}
	})
}
