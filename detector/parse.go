package detector

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"gopkg.in/yaml.v3"
)

// ParseSignal reads one signal definition, YAML or JSON (JSON is read as
// YAML), applies the defaults and checks every rule. It returns a
// normalized signal: Name, Audience, Scope, Priority, Cooldown and Message
// are filled in when the document leaves them out. Version is left zero for
// the store to set.
//
// Every failure is a *[ValidationError] listing all the problems at once,
// each with the dotted path of the field and the reason, for example
// `when.threshold.within: "7x" is not a duration` or `owner: is required`.
// Unknown fields are rejected. Problems of the document's shape (a field of
// the wrong kind, an unknown or repeated field) name the line; a YAML syntax
// error is a single problem with an empty path that names the line.
func ParseSignal(data []byte) (*Signal, error) {
	var p problems
	s, present := decodeSignal(data, &p)
	if s == nil {
		return nil, p.err()
	}
	n := s.normalized()
	if t := n.When.Threshold; t != nil && !present["cooldown"] && t.Within > 0 && t.Within <= MaxWithin {
		n.Cooldown = t.Within
	}
	compile(n, &p)
	if err := p.err(); err != nil {
		return nil, err
	}
	return n, nil
}

// decodeSignal walks the YAML node tree of a signal document rather than
// decoding it into the struct in one go, so that every problem, type errors
// included, is reported with its field path and decoding carries on past
// it. It returns nil when the document is not a mapping at all, and the set
// of field paths that were given a non-null value.
func decodeSignal(data []byte, p *problems) (*Signal, map[string]bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			p.shape("", "empty document")
		} else {
			p.shape("", strings.TrimPrefix(err.Error(), "yaml: "))
		}
		return nil, nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			p.add("", strings.TrimPrefix(err.Error(), "yaml: "))
		} else {
			p.addf("", "more than one document (line %d)", extra.Line)
		}
		return nil, nil
	}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	doc = deref(doc)
	switch {
	case isNull(doc):
		p.add("", "empty document")
		return nil, nil
	case doc.Kind != yaml.MappingNode:
		p.addf("", "a signal must be a mapping, got %s (line %d)", describe(doc), doc.Line)
		return nil, nil
	}

	d := &decoder{p: p, present: map[string]bool{}}
	s := &Signal{}
	d.object(doc, "", fields{
		"id":       func(v *yaml.Node, path string) { s.ID = d.str(v, path) },
		"name":     func(v *yaml.Node, path string) { s.Name = d.str(v, path) },
		"owner":    func(v *yaml.Node, path string) { s.Owner = d.str(v, path) },
		"audience": func(v *yaml.Node, path string) { s.Audience = d.str(v, path) },
		"scope":    func(v *yaml.Node, path string) { s.Scope = d.str(v, path) },
		"priority": func(v *yaml.Node, path string) { s.Priority = d.str(v, path) },
		"when":     func(v *yaml.Node, path string) { d.when(v, path, &s.When) },
		"cooldown": func(v *yaml.Node, path string) { s.Cooldown = d.duration(v, path) },
		"message":  func(v *yaml.Node, path string) { s.Message = d.str(v, path) },
	})
	return s, d.present
}

type decoder struct {
	p       *problems
	present map[string]bool
}

// fields maps the known keys of a mapping to what decodes their value; the
// function gets the value node (never null) and its field path.
type fields map[string]func(v *yaml.Node, path string)

// object decodes a mapping node field by field, reporting a node of another
// kind, unknown and repeated keys. Null values count as absent.
func (d *decoder) object(n *yaml.Node, path string, known fields) {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		d.p.shapef(path, "must be a mapping, got %s (line %d)", describe(n), n.Line)
		return
	}
	seen := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), deref(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			d.p.shapef(path, "has a key that is not a string (line %d)", k.Line)
			continue
		}
		fp := join(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			d.p.shapef(fp, "repeated field (line %d, first at line %d)", k.Line, first)
			continue
		}
		seen[k.Value] = k.Line
		decode, ok := known[k.Value]
		if !ok {
			d.p.shapef(fp, "unknown field (line %d)", k.Line)
			continue
		}
		if isNull(v) {
			continue
		}
		d.present[fp] = true
		decode(v, fp)
	}
}

func (d *decoder) when(n *yaml.Node, path string, w *When) {
	notYet := func(_ *yaml.Node, p string) {
		d.p.shape(p, "not supported yet")
	}
	d.object(n, path, fields{
		"threshold": func(v *yaml.Node, p string) { w.Threshold = d.threshold(v, p) },
		"sequence":  notYet,
		"score":     notYet,
	})
	given := 0
	for _, k := range []string{"threshold", "sequence", "score"} {
		if d.present[join(path, k)] {
			given++
		}
	}
	if given != 1 {
		d.p.add(path, "exactly one of threshold, sequence, score is required")
	}
	if d.present[join(path, "sequence")] || d.present[join(path, "score")] {
		// Already reported precisely; the missing threshold is not news.
		d.p.cover(path)
	}
}

func (d *decoder) threshold(n *yaml.Node, path string) *Threshold {
	t := &Threshold{}
	d.object(n, path, fields{
		"match":    func(v *yaml.Node, p string) { d.match(v, p, &t.Match) },
		"count":    func(v *yaml.Node, p string) { t.Count = d.integer(v, p) },
		"within":   func(v *yaml.Node, p string) { t.Within = d.duration(v, p) },
		"distinct": func(v *yaml.Node, p string) { t.Distinct = d.str(v, p) },
	})
	for _, k := range []string{"count", "within"} {
		if !d.present[join(path, k)] {
			d.p.add(join(path, k), "is required")
		}
	}
	return t
}

func (d *decoder) match(n *yaml.Node, path string, m *Match) {
	notYet := func(_ *yaml.Node, p string) {
		d.p.shape(p, "not supported yet")
		d.p.cover(path)
	}
	d.object(n, path, fields{
		"type":       func(v *yaml.Node, p string) { m.Type = d.str(v, p) },
		"url":        func(v *yaml.Node, p string) { m.URL = d.str(v, p) },
		"content_id": func(v *yaml.Node, p string) { m.ContentID = d.str(v, p) },
		"keywords":   notYet,
		"where":      notYet,
	})
}

func (d *decoder) str(n *yaml.Node, path string) string {
	if n.Kind != yaml.ScalarNode {
		d.p.shapef(path, "must be a string, got %s (line %d)", describe(n), n.Line)
		return ""
	}
	return n.Value
}

func (d *decoder) integer(n *yaml.Node, path string) int {
	var i int
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil {
		d.p.shapef(path, "must be an integer, got %s (line %d)", describe(n), n.Line)
		return 0
	}
	return i
}

func (d *decoder) duration(n *yaml.Node, path string) Duration {
	if n.Kind != yaml.ScalarNode {
		d.p.shapef(path, "must be a duration, got %s (line %d)", describe(n), n.Line)
		return 0
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		d.p.add(path, err.Error())
		return 0
	}
	return v
}

// deref follows an alias to the node it names.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; i < 8 && n.Kind == yaml.AliasNode && n.Alias != nil; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names a node for an error message: its kind, or the value of a
// scalar.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "an alias"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
