package detector

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/dowserhq/dowser/schema"
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
			if got := *s.When.Threshold; !reflect.DeepEqual(got, wantThreshold) {
				t.Errorf("got threshold %+v, want %+v", got, wantThreshold)
			}
			got := *s
			got.When = When{}
			got.compiled = nil
			if !reflect.DeepEqual(got, want) {
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
		{"missing when", "id: p\nowner: o\n", []string{"when: exactly one of threshold, sequence, score, silence, change is required"}},
		{"empty when", "id: p\nowner: o\nwhen: {}\n", []string{"when: exactly one of threshold, sequence, score, silence, change is required"}},
		{"sequence a list", "id: p\nowner: o\nwhen:\n  sequence: [{match: {type: a}}]\n", []string{"when.sequence: must be a mapping, got a list (line 4)"}},
		{"score without rules", "id: p\nowner: o\nwhen:\n  score: {level: 10}\n", []string{
			"when.score.rules: is required",
			"when.score.half_life: is required"}},
		{"threshold and score", edit(nil, "  score: {rules: [{match: {type: a}, points: 1}], half_life: 1d, level: 3}"), []string{
			"when: exactly one of threshold, sequence, score, silence, change is required"}},
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
		{"empty match", edit(map[string]string{"match": "    match: {}"}), []string{"when.threshold.match: at least one of type, url, content_id, keywords, where, not is required"}},
		{"missing match", edit(map[string]string{"match": ""}), []string{"when.threshold.match: at least one of type, url, content_id, keywords, where, not is required"}},
		{"null match", edit(map[string]string{"match": "    match: ~"}), []string{"when.threshold.match: at least one of type, url, content_id, keywords, where, not is required"}},
		{"match type", edit(map[string]string{"match": "    match: {type: Page View}"}), []string{`when.threshold.match.type: "Page View" is not a lowercase event type`}},
		{"match unknown", edit(map[string]string{"match": "    match: {type: page_view, title: Pricing}"}), []string{"when.threshold.match.title: unknown field (line 5)"}},
		{"keywords a string", edit(map[string]string{"match": "    match: {keywords: kafka}"}), []string{`when.threshold.match.keywords: must be a list, got "kafka" (line 5)`}},
		{"keyword a mapping", edit(map[string]string{"match": "    match: {keywords: [kafka, {a: b}]}"}), []string{"when.threshold.match.keywords[1]: must be a string, got a mapping (line 5)"}},
		{"keyword without words", edit(map[string]string{"match": "    match: {keywords: [kafka, '--']}"}), []string{`when.threshold.match.keywords[1]: "--" has no words: a keyword needs letters or digits`}},
		{"keyword too many words", edit(map[string]string{"match": "    match: {keywords: ['a b c d e f g h i']}"}), []string{`when.threshold.match.keywords[0]: "a b c d e f g h i" has 9 words, at most 8 allowed`}},
		{"keyword too long", edit(map[string]string{"match": "    match: {keywords: [" + strings.Repeat("k", 101) + "]}"}), []string{"when.threshold.match.keywords[0]: is 101 bytes, at most 100 allowed"}},
		{"too many keywords", edit(map[string]string{"match": "    match: {keywords: [" + strings.Repeat("k,", 1000) + "k]}"}), []string{"when.threshold.match.keywords: has 1001 keywords, at most 1000 allowed"}},
		{"where undeclared", edit(map[string]string{"match": `    match: {where: 'evnt.type == "x"'}`}), []string{
			"when.threshold.match.where: undeclared reference to 'evnt' (in container '') (line 1, column 1)"}},
		{"where unknown field", edit(map[string]string{"match": `    match: {type: page_view, where: 'event.tpye == "x"'}`}), []string{
			"when.threshold.match.where: undefined field 'tpye' (line 1, column 6)"}},
		{"where syntax", edit(map[string]string{"match": `    match: {where: 'event.type =='}`}), []string{
			"when.threshold.match.where: Syntax error: mismatched input '<EOF>' expecting {'[', '{', '(', '.', '-', '!', 'true', 'false', 'null', NUM_FLOAT, NUM_INT, NUM_UINT, STRING, BYTES, IDENTIFIER} (line 1, column 14)"}},
		{"where not boolean", edit(map[string]string{"match": `    match: {where: 'event.properties.plan'}`}), []string{
			"when.threshold.match.where: must be true or false, but it is of type dyn (compare it with ==, or test a property with has())"}},
		{"where a string", edit(map[string]string{"match": `    match: {where: 'event.type'}`}), []string{
			"when.threshold.match.where: must be true or false, but it is of type string (compare it with ==, or test a property with has())"}},
		{"where too long", edit(map[string]string{"match": "    match: {where: '" + strings.Repeat(" ", 2045) + "true'}"}), []string{"when.threshold.match.where: is 2049 bytes, at most 2048 allowed"}},
		{"not empty", edit(map[string]string{"match": "    match: {type: page_view, not: {}}"}), []string{
			"when.threshold.match.not: at least one of type, url, content_id, keywords, where, not is required"}},
		{"not a list", edit(map[string]string{"match": "    match: {type: page_view, not: [a]}"}), []string{"when.threshold.match.not: must be a mapping, got a list (line 5)"}},
		{"not nested problem", edit(map[string]string{"match": "    match: {type: page_view, not: {not: {type: X}}}"}), []string{
			`when.threshold.match.not.not.type: "X" is not a lowercase event type`}},
		{"not too deep", edit(map[string]string{"match": "    match: {type: a, not: {type: b, not: {type: c, not: {type: d, not: {type: e, not: {type: f}}}}}}"}), []string{
			"when.threshold.match.not.not.not.not.not: nested too deeply: at most 4 levels of not"}},
		{"distinct unknown", edit(nil, "    distinct: colour"), []string{
			`when.threshold.distinct: "colour" is not one of type, source, content_id, customer.id, customer.account_id, properties.<name>`}},
		{"distinct empty property", edit(nil, "    distinct: properties."), []string{
			`when.threshold.distinct: "properties." is not one of type, source, content_id, customer.id, customer.account_id, properties.<name>`}},
		{"min_people without account scope", edit(nil, "min_people: 3"), []string{"min_people: requires scope: account"}},
		{"min_people zero or less", edit(nil, "scope: account", "min_people: -1"), []string{"min_people: must be between 1 and 10000, got -1"}},
		{"min_people a string", edit(nil, "scope: account", "min_people: many"), []string{`min_people: must be an integer, got "many" (line 9)`}},
		{"min_people with a silence", "id: p\nowner: o\nscope: account\nmin_people: 2\nwhen:\n  silence: {after: {type: a}, expect: [{type: b}], within: 1d}\n", []string{
			"min_people: is not allowed with when.silence: its alert is about one event"}},
		{"silence fields missing", "id: p\nowner: o\nwhen:\n  silence: {}\n", []string{
			"when.silence.after: is required", "when.silence.expect: is required", "when.silence.within: is required"}},
		{"silence problems", "id: p\nowner: o\nwhen:\n  silence:\n    after: {type: Attended}\n    expect: [{}, {type: b, colour: red}]\n    within: 0s\n    then: x\n", []string{
			"when.silence.expect[1].colour: unknown field (line 6)",
			"when.silence.then: unknown field (line 8)",
			`when.silence.after.type: "Attended" is not a lowercase event type`,
			"when.silence.expect[0]: at least one of type, url, content_id, keywords, where, not is required",
			"when.silence.within: must be more than 0, got 0s"}},
		{"change fields missing", "id: p\nowner: o\nwhen:\n  change: {baseline: 2}\n", []string{
			"when.change.match: is required", "when.change.period: is required", "when.change: exactly one of rise, fall is required"}},
		{"change rise and fall", "id: p\nowner: o\nwhen:\n  change: {match: {type: a}, period: 7d, rise: 2, fall: 0.5}\n", []string{
			"when.change: exactly one of rise, fall is required"}},
		{"change fall out of range", "id: p\nowner: o\nwhen:\n  change: {match: {type: a}, period: 7d, fall: 1}\n", []string{
			"when.change.fall: must be more than 0 and less than 1, got 1"}},
		{"change problems", "id: p\nowner: o\nwhen:\n  change: {match: {type: a}, period: 0s, baseline: 53, rise: 1, min_count: 0}\n", []string{
			"when.change.period: must be more than 0, got 0s",
			"when.change.baseline: must be between 1 and 52, got 53",
			"when.change.rise: must be more than 1 and at most 1000, got 1"}},
		{"change kinds", "id: p\nowner: o\nwhen:\n  change: {match: {type: a}, period: 7d, baseline: two, rise: lots}\n", []string{
			`when.change.baseline: must be an integer, got "two" (line 4)`,
			`when.change.rise: must be a number, got "lots" (line 4)`}},
		{"min_people with a change", "id: p\nowner: o\nscope: account\nmin_people: 2\nwhen:\n  change: {match: {type: a}, period: 7d, rise: 2}\n", []string{
			"min_people: is not allowed with when.change: it keeps counts, not people"}},
		{"silence expect a mapping", "id: p\nowner: o\nwhen:\n  silence: {after: {type: a}, expect: {type: b}, within: 1d}\n", []string{
			"when.silence.expect: must be a list, got a mapping (line 4)"}},
		{"silence expect empty", "id: p\nowner: o\nwhen:\n  silence: {after: {type: a}, expect: [], within: 401d}\n", []string{
			"when.silence.expect: must have between 1 and 8 matches, got 0",
			"when.silence.within: must be at most 400d, got 401d"}},
		{"silence and sequence", "id: p\nowner: o\nwhen:\n  silence: {after: {type: a}, expect: [{type: b}], within: 1d}\n  sequence: {steps: [{type: a}, {type: b}], within: 1d}\n", []string{
			"when: exactly one of threshold, sequence, score, silence, change is required"}},
		{"sequence one step", "id: p\nowner: o\nwhen:\n  sequence: {steps: [{type: a}], within: 1d}\n", []string{
			"when.sequence.steps: must have between 2 and 8 steps, got 1"}},
		{"sequence too many steps", "id: p\nowner: o\nwhen:\n  sequence: {steps: [" + strings.Repeat("{type: a}, ", 8) + "{type: a}], within: 1d}\n", []string{
			"when.sequence.steps: must have between 2 and 8 steps, got 9"}},
		{"sequence steps missing", "id: p\nowner: o\nwhen:\n  sequence: {within: 1d}\n", []string{"when.sequence.steps: is required"}},
		{"sequence steps a mapping", "id: p\nowner: o\nwhen:\n  sequence: {steps: {type: a}, within: 1d}\n", []string{"when.sequence.steps: must be a list, got a mapping (line 4)"}},
		{"sequence step problems", "id: p\nowner: o\nwhen:\n  sequence:\n    steps:\n      - {type: Signup}\n      - {}\n      - ~\n      - {type: b, colour: red}\n    within: 2x\n    absent: [x]\n", []string{
			"when.sequence.steps[3].colour: unknown field (line 9)",
			`when.sequence.within: "2x" is not a duration`,
			"when.sequence.absent: must be a mapping, got a list (line 11)",
			`when.sequence.steps[0].type: "Signup" is not a lowercase event type`,
			"when.sequence.steps[1]: at least one of type, url, content_id, keywords, where, not is required",
			"when.sequence.steps[2]: at least one of type, url, content_id, keywords, where, not is required"}},
		{"sequence absent empty", "id: p\nowner: o\nwhen:\n  sequence: {steps: [{type: a}, {type: b}], within: 1d, absent: {}}\n", []string{
			"when.sequence.absent: at least one of type, url, content_id, keywords, where, not is required"}},
		{"sequence within too long", "id: p\nowner: o\nwhen:\n  sequence: {steps: [{type: a}, {type: b}], within: 401d}\n", []string{
			"when.sequence.within: must be at most 400d, got 401d"}},
		{"score problems", "id: p\nowner: o\nwhen:\n  score:\n    rules:\n      - {match: {type: a}, points: 0}\n      - {match: {type: b}, points: lots}\n      - {match: {type: c}}\n      - {points: 2}\n      - {match: {type: d}, points: .nan}\n      - {match: {type: e}, points: 10001}\n    half_life: 91d\n    level: 0\n", []string{
			"when.score.rules[1].points: must be a number, got \"lots\" (line 7)",
			"when.score.rules[2].points: is required",
			"when.score.rules[4].points: must be a number, got \".nan\" (line 10)",
			"when.score.rules[0].points: must be more than 0 and at most 10000, got 0",
			"when.score.rules[3].match: at least one of type, url, content_id, keywords, where, not is required",
			"when.score.rules[5].points: must be more than 0 and at most 10000, got 10001",
			"when.score.half_life: must be at most 90d, got 91d",
			"when.score.level: must be more than 0 and at most 1e+09, got 0"}},
		{"score no rules", "id: p\nowner: o\nwhen:\n  score: {rules: [], half_life: 1d, level: 1}\n", []string{
			"when.score.rules: must have between 1 and 50 rules, got 0"}},
		{"score level a list", "id: p\nowner: o\nwhen:\n  score: {rules: [{match: {type: a}, points: 1}], half_life: 1d, level: [1]}\n", []string{
			"when.score.level: must be a number, got a list (line 4)"}},
		{"cooldown negative", edit(nil, "cooldown: -1h"), []string{"cooldown: must not be negative, got -1h"}},
		{"cooldown too long", edit(nil, "cooldown: 500d"), []string{"cooldown: must be at most 400d, got 500d"}},
		{"cooldown not a duration", edit(nil, "cooldown: soon"), []string{`cooldown: "soon" is not a duration`}},
		{"message syntax", edit(nil, "message: '{{.Count'"), []string{"message: the message template is not closed at line 8: a {{ has no }} after it"}},
		{"message unknown field", edit(nil, "message: '{{.Acount}}'"), []string{
			`message: the message template uses .Acount at line 8, which an alert does not have (it has .Signal, .SignalID, .Customer, .Account, .Subject, .Count, .People, .Score, .Priority, .Evidence)`}},
		{"message unknown evidence field", edit(nil, "message: '{{range .Evidence}}{{.Link}}{{end}}'"), []string{
			`message: the message template uses .Link at line 8, which an evidence item does not have (it has .EventID, .Type, .Time, .CustomerID, .ContentID, .URL, .Title, .Subject)`}},
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
		{"syntax", "id: p\n  owner: o\n", []string{`the definition is not valid YAML at line 2: mapping values are not allowed: a value that contains ": " must be put in quotes, or this line is indented too far`}},
		{"json syntax", "{\n  \"id\": \"p\",\n  \"owner\": \"o\"\n", []string{"the definition is not valid YAML at line 3: did not find expected ',' or '}': a { … } is not closed"}},
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
			"when.threshold.match: at least one of type, url, content_id, keywords, where, not is required",
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

const sequenceYAML = `id: webinar-then-pricing
owner: mkt-jane
audience: prospect
when:
  sequence:
    steps:
      - {type: webinar_signup, content_id: kafka-webinar}
      - {type: page_view, url: "*/pricing*", not: {url: "*/pricing/faq*"}}
    within: 48h
    absent: {type: form_submit, where: 'event.properties.?form.orValue("") == "contact-sales"'}
`

const scoreYAML = `id: churn-risk
owner: mkt-omar
audience: customer
scope: account
priority: urgent
when:
  score:
    rules:
      - {match: {type: support_email, keywords: [cancel, "switch to", competitor]}, points: 6}
      - {match: {type: support_email, keywords: [outage, down]}, points: 2.5}
    half_life: 3d
    level: 10
message: "{{.Account}}: churn score {{printf \"%.1f\" .Score}}"
`

const surgeYAML = `id: surge
owner: mkt-jane
scope: account
min_people: 3
when:
  threshold:
    match: {type: page_view, url: "*/docs/*"}
    count: 5
    within: 7d
    distinct: customer.id
`

func TestSignalRoundTrip(t *testing.T) {
	for _, doc := range []string{briefYAML, sequenceYAML, scoreYAML, surgeYAML} {
		roundTrip(t, doc)
	}
}

func roundTrip(t *testing.T, src string) {
	s, err := ParseSignal([]byte(src))
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
	for _, in := range []string{"", "7x", "d", "7", "1h2d", "1d-2h", "1d1d", "7days", "x1d"} {
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

// fuzzSeeds are valid and nearly valid documents of every construct.
var fuzzSeeds = []string{
	briefYAML, briefJSON, edit(nil), "when: {sequence: *a}", "a: &a [*a]", "- 1",
	sequenceYAML, scoreYAML, surgeYAML,
	`{"id": "k", "owner": "o", "when": {"threshold": {"match": {"keywords": ["cancel", "more seats"], "not": {"where": "event.properties.x == 1"}}, "count": 1, "within": "1h"}}}`,
	"id: w\nowner: o\nwhen: {threshold: {match: {where: 'event.properties.?n.orValue(0) > 2'}, count: 2, within: 1d, distinct: properties.url}}\n",
	"id: q\nowner: o\nwhen: {sequence: {steps: [{type: a}, {not: {type: b}}], within: 1h, absent: {keywords: [x]}}}\n",
	"id: s\nowner: o\nwhen: {score: {rules: [{match: {type: a}, points: 1.5e3}], half_life: 1.5d, level: 0.001}}\n",
}

// fuzzEvents are run through every valid signal the fuzzer finds.
var fuzzEvents = []*schema.Event{
	view("e1", 0, props("subject", "Cancel more seats", "body", "KÜNDIGUNG", "n", "3")),
	view("e2", time.Minute, ofType("webinar_signup"), anonymous("a-1")),
	view("e3", time.Hour, ofType("identify"), known("c-1", "a-1", "acme", "customer")),
	view("e4", 2*time.Hour, customer("c-2", "acme", "")),
	view("e1", 3*time.Hour),
}

func FuzzParseSignal(f *testing.F) {
	for _, seed := range fuzzSeeds {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSignal(data)
		if (s == nil) == (err == nil) {
			t.Fatalf("got signal %v and error %v, want exactly one", s, err)
		}
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) == 0 {
				t.Fatalf("got error %v (%T), want a *ValidationError with problems", err, err)
			}
			return
		}
		// A valid signal survives the store's round trip through JSON.
		doc, err := json.Marshal(s)
		if err != nil {
			t.Fatalf("encoding: %v", err)
		}
		again, err := ParseSignal(doc)
		if err != nil {
			t.Fatalf("parsing its JSON %s: %v", doc, err)
		}
		if again.Hash() != s.Hash() {
			t.Fatalf("round trip through %s changed the hash", doc)
		}
		// And always evaluates.
		e := New([]*Signal{s})
		for _, ev := range fuzzEvents {
			e.Evaluate(ev)
		}
	})
}
