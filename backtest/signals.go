package backtest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/dowserhq/dowser/detector"
)

// Problem is one thing wrong with a signal file: a problem reported by
// [detector.ParseSignal], a file that cannot be read, or a signal id that
// another file already defines.
type Problem struct {
	File string
	// Doc is the 1-based position of the document in a file that holds
	// several (a YAML stream separated by "---"); 0 when it holds one.
	Doc int
	// Path is the dotted field path; empty for the document or file as a
	// whole.
	Path   string
	Reason string
}

// String formats the problem as "FILE: path: reason", or
// "FILE (document N): path: reason" in a stream of several documents.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Doc > 0 {
		fmt.Fprintf(&b, " (document %d)", p.Doc)
	}
	b.WriteString(": ")
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Reason)
	return b.String()
}

// ProblemsError is the error of [LoadSignals]: every problem found.
type ProblemsError struct {
	Problems []Problem
}

// Error lists the problems, one per line.
func (e *ProblemsError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Lint reads each file as signal definitions (YAML or JSON; one signal per
// document, documents separated by "---" lines) and returns the valid
// signals, in file and document order, and every problem found. A signal id
// defined twice is a problem of its second definition. The returned signals
// have Version 1.
func Lint(paths ...string) ([]*detector.Signal, []Problem) {
	var l linter
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			l.problems = append(l.problems, Problem{File: path, Reason: readError(err)})
			continue
		}
		l.source(path, data)
	}
	return l.signals, l.problems
}

// LoadSignals is [Lint] for callers that need every file to be valid: it
// returns a *[ProblemsError] when any problem is found.
func LoadSignals(paths ...string) ([]*detector.Signal, error) {
	signals, problems := Lint(paths...)
	if len(problems) > 0 {
		return nil, &ProblemsError{Problems: problems}
	}
	return signals, nil
}

// linter accumulates the signals and problems of several sources.
type linter struct {
	signals  []*detector.Signal
	problems []Problem
	// defined maps a signal id to the file that defined it first.
	defined map[string]string
}

// source lints the documents of one file.
func (l *linter) source(file string, data []byte) {
	docs := splitDocuments(data)
	for i, doc := range docs {
		n := 0
		if len(docs) > 1 {
			n = i + 1
		}
		l.document(file, n, doc)
	}
}

// document lints one document, numbered n in its file (0 when alone).
func (l *linter) document(file string, n int, doc []byte) {
	sig, err := detector.ParseSignal(doc)
	if err != nil {
		var ve *detector.ValidationError
		if !errors.As(err, &ve) {
			l.problems = append(l.problems, Problem{File: file, Doc: n, Reason: err.Error()})
			return
		}
		for _, p := range ve.Problems {
			l.problems = append(l.problems, Problem{File: file, Doc: n, Path: p.Path, Reason: p.Reason})
		}
		return
	}
	where := file
	if n > 0 {
		where = fmt.Sprintf("%s (document %d)", file, n)
	}
	if first, dup := l.defined[sig.ID]; dup {
		l.problems = append(l.problems, Problem{File: file, Doc: n, Path: "id", Reason: fmt.Sprintf("%q is also defined in %s", sig.ID, first)})
		return
	}
	if l.defined == nil {
		l.defined = map[string]string{}
	}
	l.defined[sig.ID] = where
	// Backtests and fixtures stand for the first stored version.
	sig.Version = 1
	l.signals = append(l.signals, sig)
}

// readError shortens an *os.PathError, whose path the Problem already
// names.
func readError(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Op + ": " + pe.Err.Error()
	}
	return err.Error()
}

// splitDocuments splits a YAML stream at its "---" and "..." marker lines.
// Each document keeps its line numbers: the lines before it are blanked,
// not removed, so that the line numbers in ParseSignal's problems are those
// of the file. Documents with nothing but blank lines and comments are
// dropped, unless the file has nothing else (ParseSignal then reports the
// empty document). A JSON file has no marker lines and is one document.
func splitDocuments(data []byte) [][]byte {
	var (
		docs  [][]byte
		start int // byte offset of the current document's first line
		lines int // lines before the current document
		line  int // number of the current line, from 0
		empty = true
	)
	flush := func(end int) {
		if !empty {
			doc := make([]byte, 0, lines+end-start)
			doc = append(doc, bytes.Repeat([]byte{'\n'}, lines)...)
			docs = append(docs, append(doc, data[start:end]...))
		}
		empty = true
	}
	for off := 0; off < len(data); line++ {
		end := bytes.IndexByte(data[off:], '\n')
		next := len(data)
		if end >= 0 {
			next = off + end + 1
		}
		text := bytes.TrimRight(data[off:next], "\r\n")
		switch {
		case isMarker(text):
			flush(off)
			start, lines = next, line+1
			if bytes.HasPrefix(text, []byte("---")) {
				// Content after "--- " on the marker line ("--- {id: x}")
				// belongs to the document it opens: keep the whole line,
				// which YAML reads as the start of one document.
				if rest := bytes.TrimSpace(text[3:]); len(rest) > 0 && rest[0] != '#' {
					start, lines = off, line
					empty = false
				}
			}
		default:
			if t := bytes.TrimSpace(text); len(t) > 0 && t[0] != '#' && t[0] != '%' {
				empty = false
			}
		}
		off = next
	}
	flush(len(data))
	if len(docs) == 0 {
		return [][]byte{data}
	}
	return docs
}

// isMarker reports whether a line is a document marker: "---" or "...",
// alone or followed by a space.
func isMarker(line []byte) bool {
	for _, m := range [][]byte{[]byte("---"), []byte("...")} {
		if bytes.Equal(line, m) || (bytes.HasPrefix(line, m) && len(line) > 3 && (line[3] == ' ' || line[3] == '\t')) {
			return true
		}
	}
	return false
}
