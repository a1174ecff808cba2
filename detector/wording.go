package detector

import (
	"regexp"
	"strconv"
	"strings"
)

// Marketers write signals; Go's template and YAML errors speak to
// programmers ("template: message:3: unexpected EOF"). The functions here
// say the same in a marketer's words, with the document's line.

var (
	templateErr = regexp.MustCompile(`^template: message:(\d+):(?:\d+:)?\s*(.*)$`)
	execErr     = regexp.MustCompile(`executing "message" at <([^>]*)>: (.*)$`)
	yamlLineErr = regexp.MustCompile(`^line (\d+): (.*)$`)
)

// messageFields are the fields a message template can use, for the hint.
const (
	messageFields  = ".Signal, .SignalID, .Customer, .Account, .Subject, .Count, .People, .Score, .Priority, .Evidence"
	evidenceFields = ".EventID, .Type, .Time, .CustomerID, .ContentID, .URL, .Title, .Subject"
)

// messageProblem rewords an error of parseMessage on text. first is the document
// line of the message's first line (0 when unknown, and the line is then
// the message's own); it returns the reason and the document line.
func messageProblem(err error, text string, first int) (string, int) {
	msg := err.Error()
	m := templateErr.FindStringSubmatch(msg)
	if m == nil {
		return msg, first // the cost and size checks speak plainly already
	}
	n, _ := strconv.Atoi(m[1])
	rest := m[2]
	if strings.HasPrefix(rest, "unclosed action") {
		// The parser reports where it gave up, the end of the message;
		// the marketer needs the {{ that has no }}.
		if i := strings.LastIndex(text, "{{"); i >= 0 && !strings.Contains(text[i:], "}}") {
			n = strings.Count(text[:i], "\n") + 1
		}
	}
	line, where := n, "at line "+strconv.Itoa(n)+" of the message"
	if first > 0 {
		line = first + n - 1
		where = "at line " + strconv.Itoa(line)
	}
	var reason string
	switch {
	case rest == "unclosed action" || strings.HasPrefix(rest, "unclosed action"):
		reason = "the message template is not closed " + where + ": a {{ has no }} after it"
	case rest == "unexpected EOF":
		reason = "the message template is not closed " + where + ": an {{if}}, {{range}} or {{with}} has no {{end}}"
	case strings.HasPrefix(rest, "bad character U+007D"):
		reason = "the message template has a single } " + where + ": close a field with }}"
	case strings.HasPrefix(rest, "unexpected {{end}}"):
		reason = "the message template has an {{end}} " + where + " with no {{if}}, {{range}} or {{with}} to end"
	case strings.HasPrefix(rest, "unexpected {{else}}"):
		reason = "the message template has an {{else}} " + where + " outside an {{if}}, {{range}} or {{with}}"
	case strings.HasPrefix(rest, "unterminated quoted string") || strings.HasPrefix(rest, "unterminated raw quoted string"):
		reason = "the message template has a quote that is not closed " + where
	case strings.HasPrefix(rest, "function "):
		name, _, _ := strings.Cut(strings.TrimPrefix(rest, "function "), " not defined")
		reason = "the message template uses " + name + " " + where + ", which is not a function templates know"
	default:
		if e := execErr.FindStringSubmatch(rest); e != nil {
			if strings.HasPrefix(e[2], "can't evaluate field ") {
				field, typ, _ := strings.Cut(strings.TrimPrefix(e[2], "can't evaluate field "), " in type ")
				if strings.HasSuffix(typ, "Evidence") {
					reason = "the message template uses ." + field + " " + where + ", which an evidence item does not have (it has " + evidenceFields + ")"
				} else {
					reason = "the message template uses ." + field + " " + where + ", which an alert does not have (it has " + messageFields + ")"
				}
			} else {
				reason = "the message template cannot use " + e[1] + " " + where + ": " + e[2]
			}
		} else {
			reason = "the message template is not valid " + where + ": " + rest
		}
	}
	return reason, line
}

// yamlHints add, to a YAML parser message, what usually causes it.
var yamlHints = []struct{ has, hint string }{
	{"mapping values are not allowed", `a value that contains ": " must be put in quotes, or this line is indented too far`},
	{"did not find expected key", "check the indentation: the keys of one block must line up"},
	{"did not find expected node content", "a value is missing, or a list item (-) is indented wrongly"},
	{"found a tab character", "indent with spaces, not tabs"},
	{"found character that cannot start any token", "indent with spaces, not tabs, and quote a value that starts with @ or `"},
	{"could not find expected ':'", "a key needs a colon after it"},
	{"found unexpected end of stream", "a quote is not closed"},
	{"did not find expected ',' or '}'", "a { … } is not closed"},
	{"did not find expected ',' or ']'", "a [ … ] is not closed"},
	{"found undefined alias", "a *name refers to no &name"},
	{"block sequence entries are not allowed", "a list item (-) cannot follow a key on the same line: put it on the next line"},
}

// yamlProblem rewords a YAML parser error ("yaml: line 3: mapping values
// are not allowed in this context") as "line 3: …, hint"; it returns the
// line too (0 when the parser gave none).
func yamlProblem(msg string) (string, int) {
	msg = strings.TrimPrefix(msg, "yaml: ")
	line := 0
	what := msg
	if m := yamlLineErr.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		what = m[2]
	}
	what = strings.TrimSuffix(what, " in this context")
	for _, h := range yamlHints {
		if strings.Contains(what, h.has) {
			what += ": " + h.hint
			break
		}
	}
	if line > 0 {
		return "the definition is not valid YAML at line " + strconv.Itoa(line) + ": " + what, line
	}
	return "the definition is not valid YAML: " + what, 0
}
