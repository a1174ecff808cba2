package detector

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"

	"gopkg.in/yaml.v3"
)

// ParseSignal reads one signal definition, YAML or JSON (JSON is read as
// YAML), applies the defaults and checks every rule. It returns a
// normalized signal: Name, Audience, Scope, Priority, Cooldown and Message
// are filled in when the document leaves them out. Version is left zero for
// the store to set. The signal's where expressions are compiled here, once:
// engines given the returned signal reuse them.
//
// Every failure is a *[ValidationError] listing all the problems at once,
// each with the dotted path of the field and the reason, for example
// `when.threshold.within: "7x" is not a duration`, `owner: is required` or
// `when.sequence.steps[1].where: undeclared reference to 'evnt' (line 1,
// column 1)`; list items are numbered from 0. Unknown fields are rejected.
// Problems of the document's shape (a field of the wrong kind, an unknown or
// repeated field) name the line; a YAML syntax error is a single problem
// with an empty path that names the line.
func ParseSignal(data []byte) (*Signal, error) {
	var p problems
	s, present := decodeSignal(data, &p)
	if s == nil {
		return nil, p.err()
	}
	n := s.normalized()
	if !present["cooldown"] {
		if d := n.defaultCooldown(); d > 0 && d <= MaxWithin {
			n.Cooldown = d
		}
	}
	pl := compile(n, &p)
	if err := p.err(); err != nil {
		return nil, err
	}
	// Only a template error needed it; equal documents make equal signals.
	n.messageLine = 0
	pl.hash = n.Hash()
	n.compiled = pl
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
			reason, line := yamlProblem(err.Error())
			p.addAt("", reason, line)
			p.blocked = append(p.blocked, "")
		}
		return nil, nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			reason, line := yamlProblem(err.Error())
			p.addAt("", reason, line)
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
		"id":         func(v *yaml.Node, path string) { s.ID = d.str(v, path) },
		"name":       func(v *yaml.Node, path string) { s.Name = d.str(v, path) },
		"owner":      func(v *yaml.Node, path string) { s.Owner = d.str(v, path) },
		"audience":   func(v *yaml.Node, path string) { s.Audience = d.str(v, path) },
		"scope":      func(v *yaml.Node, path string) { s.Scope = d.str(v, path) },
		"min_people": func(v *yaml.Node, path string) { s.MinPeople = d.integer(v, path) },
		"priority":   func(v *yaml.Node, path string) { s.Priority = d.str(v, path) },
		"when":       func(v *yaml.Node, path string) { d.when(v, path, &s.When) },
		"cooldown":   func(v *yaml.Node, path string) { s.Cooldown = d.duration(v, path) },
		"message": func(v *yaml.Node, path string) {
			s.Message = d.str(v, path)
			// A block scalar (| or >) starts on the line after its key.
			s.messageLine = v.Line
			if v.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
				s.messageLine++
			}
		},
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

// list decodes a sequence node item by item; item gets each item's node
// (null items included) and its path, path[i].
func (d *decoder) list(n *yaml.Node, path string, item func(v *yaml.Node, path string)) {
	n = deref(n)
	if n.Kind != yaml.SequenceNode {
		d.p.shapef(path, "must be a list, got %s (line %d)", describe(n), n.Line)
		return
	}
	for i, v := range n.Content {
		item(deref(v), path+"["+strconv.Itoa(i)+"]")
	}
}

func (d *decoder) when(n *yaml.Node, path string, w *When) {
	d.object(n, path, fields{
		"threshold": func(v *yaml.Node, p string) { w.Threshold = d.threshold(v, p) },
		"sequence":  func(v *yaml.Node, p string) { w.Sequence = d.sequence(v, p) },
		"score":     func(v *yaml.Node, p string) { w.Score = d.score(v, p) },
		"silence":   func(v *yaml.Node, p string) { w.Silence = d.silence(v, p) },
		"change":    func(v *yaml.Node, p string) { w.Change = d.change(v, p) },
	})
}

// required reports each of keys that is missing under path.
func (d *decoder) required(path string, keys ...string) {
	for _, k := range keys {
		if !d.present[join(path, k)] {
			d.p.add(join(path, k), "is required")
		}
	}
}

func (d *decoder) threshold(n *yaml.Node, path string) *Threshold {
	t := &Threshold{}
	d.object(n, path, fields{
		"match":    func(v *yaml.Node, p string) { d.match(v, p, &t.Match, 0) },
		"count":    func(v *yaml.Node, p string) { t.Count = d.integer(v, p) },
		"within":   func(v *yaml.Node, p string) { t.Within = d.duration(v, p) },
		"distinct": func(v *yaml.Node, p string) { t.Distinct = d.str(v, p) },
	})
	d.required(path, "count", "within")
	return t
}

func (d *decoder) sequence(n *yaml.Node, path string) *Sequence {
	q := &Sequence{}
	d.object(n, path, fields{
		"steps": func(v *yaml.Node, p string) {
			d.list(v, p, func(item *yaml.Node, ip string) {
				var m Match
				d.match(item, ip, &m, 0)
				q.Steps = append(q.Steps, m)
			})
		},
		"within": func(v *yaml.Node, p string) { q.Within = d.duration(v, p) },
		"absent": func(v *yaml.Node, p string) {
			q.Absent = &Match{}
			d.match(v, p, q.Absent, 0)
		},
	})
	d.required(path, "steps", "within")
	return q
}

func (d *decoder) silence(n *yaml.Node, path string) *Silence {
	q := &Silence{}
	d.object(n, path, fields{
		"after": func(v *yaml.Node, p string) { d.match(v, p, &q.After, 0) },
		"expect": func(v *yaml.Node, p string) {
			d.list(v, p, func(item *yaml.Node, ip string) {
				var m Match
				d.match(item, ip, &m, 0)
				q.Expect = append(q.Expect, m)
			})
		},
		"within": func(v *yaml.Node, p string) { q.Within = d.duration(v, p) },
	})
	d.required(path, "after", "expect", "within")
	return q
}

func (d *decoder) change(n *yaml.Node, path string) *Change {
	c := &Change{}
	d.object(n, path, fields{
		"match":     func(v *yaml.Node, p string) { d.match(v, p, &c.Match, 0) },
		"period":    func(v *yaml.Node, p string) { c.Period = d.duration(v, p) },
		"baseline":  func(v *yaml.Node, p string) { c.Baseline = d.integer(v, p) },
		"rise":      func(v *yaml.Node, p string) { c.Rise = d.number(v, p) },
		"fall":      func(v *yaml.Node, p string) { c.Fall = d.number(v, p) },
		"min_count": func(v *yaml.Node, p string) { c.MinCount = d.integer(v, p) },
	})
	d.required(path, "match", "period")
	return c
}

func (d *decoder) score(n *yaml.Node, path string) *Score {
	sc := &Score{}
	d.object(n, path, fields{
		"rules": func(v *yaml.Node, p string) {
			d.list(v, p, func(item *yaml.Node, ip string) {
				var r ScoreRule
				d.object(item, ip, fields{
					"match":  func(v *yaml.Node, p string) { d.match(v, p, &r.Match, 0) },
					"points": func(v *yaml.Node, p string) { r.Points = d.number(v, p) },
				})
				d.required(ip, "points")
				sc.Rules = append(sc.Rules, r)
			})
		},
		"half_life": func(v *yaml.Node, p string) { sc.HalfLife = d.duration(v, p) },
		"level":     func(v *yaml.Node, p string) { sc.Level = d.number(v, p) },
	})
	d.required(path, "rules", "half_life", "level")
	return sc
}

// match decodes a match; depth counts the nots it is nested in.
func (d *decoder) match(n *yaml.Node, path string, m *Match, depth int) {
	if depth > MaxNotDepth {
		d.p.shapef(path, "nested too deeply: at most %d levels of not", MaxNotDepth)
		return
	}
	if isNull(n) {
		return // reported as an empty match
	}
	d.object(n, path, fields{
		"type":       func(v *yaml.Node, p string) { m.Type = d.str(v, p) },
		"url":        func(v *yaml.Node, p string) { m.URL = d.str(v, p) },
		"content_id": func(v *yaml.Node, p string) { m.ContentID = d.str(v, p) },
		"keywords": func(v *yaml.Node, p string) {
			d.list(v, p, func(item *yaml.Node, ip string) { m.Keywords = append(m.Keywords, d.str(item, ip)) })
		},
		"where": func(v *yaml.Node, p string) { m.Where = d.str(v, p) },
		"not": func(v *yaml.Node, p string) {
			m.Not = &Match{}
			d.match(v, p, m.Not, depth+1)
		},
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

// number decodes a finite number, integer or not.
func (d *decoder) number(n *yaml.Node, path string) float64 {
	var f float64
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") || n.Decode(&f) != nil ||
		math.IsNaN(f) || math.IsInf(f, 0) {
		d.p.shapef(path, "must be a number, got %s (line %d)", describe(n), n.Line)
		return 0
	}
	return f
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
