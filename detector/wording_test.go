package detector

import (
	"errors"
	"testing"
)

func TestProblemsInMarketersWords(t *testing.T) {
	const head = "id: p\nowner: o\nwhen:\n  threshold: {match: {type: page_view}, count: 3, within: 7d}\n"
	for _, c := range []struct {
		name, doc string
		want      FieldError
	}{
		{"unclosed action in a block message", head + "message: |\n  Hello {{.Account}}\n  read {{.Count}} pages\n  and {{.Evidence\n",
			FieldError{Path: "message", Line: 8, Reason: "the message template is not closed at line 8: a {{ has no }} after it"}},
		{"if without end", head + "message: \"{{if .Count}}x\"\n",
			FieldError{Path: "message", Line: 5, Reason: "the message template is not closed at line 5: an {{if}}, {{range}} or {{with}} has no {{end}}"}},
		{"single brace", head + "message: |\n  x\n  {{.Account}\n",
			FieldError{Path: "message", Line: 7, Reason: "the message template has a single } at line 7: close a field with }}"}},
		{"unknown function", head + "message: '{{.Account | shout}}'\n",
			FieldError{Path: "message", Line: 5, Reason: "the message template uses \"shout\" at line 5, which is not a function templates know"}},
		{"tab", "id: p\nowner: o\nwhen:\n\tthreshold: {}\n",
			FieldError{Line: 4, Reason: "the definition is not valid YAML at line 4: found character that cannot start any token: indent with spaces, not tabs, and quote a value that starts with @ or `"}},
	} {
		_, err := ParseSignal([]byte(c.doc))
		var ve *ValidationError
		if !errors.As(err, &ve) || len(ve.Problems) != 1 {
			t.Errorf("%s: got %v, want one problem", c.name, err)
			continue
		}
		if got := ve.Problems[0]; got != c.want {
			t.Errorf("%s:\n got %+v\nwant %+v", c.name, got, c.want)
		}
	}
}
