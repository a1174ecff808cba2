package detector

import (
	"math"
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
)

// propertyMatch is a where expression of the form
//
//	event.properties.?name.orValue("default").matches("regex")
//
// (the default pack's way to test a URL), evaluated as CEL would but
// without it: CEL's matches is Go's regexp.MatchString, and the optional
// field yields the property when it is present and the default when not.
// It answers only when the answer is certainly CEL's: when the property is
// absent or a string (CEL converts other values, and matches fails on
// them), and when the string is short enough that CEL's cost stays within
// MaxWhereCost.
type propertyMatch struct {
	name, def string
	re        *regexp.Regexp
	// literals, when not nil, are the strings re matches and nothing
	// else: re matches s exactly when one of them occurs in s.
	literals []string
	maxLen   int // in bytes
}

// eval returns whether the expression matches props, and false for ok
// when CEL must decide.
func (m *propertyMatch) eval(props map[string]any) (matched, ok bool) {
	s := m.def
	if v, present := props[m.name]; present {
		if s, ok = v.(string); !ok {
			return false, false
		}
	}
	if len(s) > m.maxLen {
		return false, false
	}
	if m.literals != nil {
		for _, l := range m.literals {
			if strings.Contains(s, l) {
				return true, true
			}
		}
		return false, true
	}
	return m.re.MatchString(s), true
}

// whereOverheadCost bounds the CEL cost of everything in a propertyMatch
// but matches itself (a few selections and calls, each about 1).
const whereOverheadCost = 1000

// propertyMatchOf returns the propertyMatch that e is, or nil when e has
// another shape.
func propertyMatchOf(e ast.Expr) *propertyMatch {
	// matches(orValue(_?._(event.properties, name), default), regex)
	matches, ok := memberCall(e, "matches", 1)
	if !ok {
		return nil
	}
	pattern, ok := stringLiteral(matches.Args()[0])
	if !ok {
		return nil
	}
	orValue, ok := memberCall(matches.Target(), "orValue", 1)
	if !ok {
		return nil
	}
	def, ok := stringLiteral(orValue.Args()[0])
	if !ok {
		return nil
	}
	opt := orValue.Target()
	if opt.Kind() != ast.CallKind {
		return nil
	}
	sel := opt.AsCall()
	if sel.FunctionName() != operators.OptSelect || sel.IsMemberFunction() || len(sel.Args()) != 2 {
		return nil
	}
	name, ok := stringLiteral(sel.Args()[1])
	if !ok || !isEventProperties(sel.Args()[0]) {
		return nil
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil // CEL reports it, at every evaluation
	}
	// CEL charges matches ceil((1 + runes of s)·0.1) · ceil(runes of
	// regex·0.25); a string of n bytes has at most n runes.
	regexCost := int(math.Ceil(float64(utf8.RuneCountInString(pattern)) * 0.25))
	maxLen := 10*((MaxWhereCost-whereOverheadCost)/max(regexCost, 1)-1) - 1
	if maxLen < len(def) {
		return nil
	}
	m := &propertyMatch{name: name, def: def, re: re, maxLen: maxLen}
	if syn, err := syntax.Parse(pattern, syntax.Perl); err == nil {
		if l, ok := literalsOf(syn.Simplify()); ok {
			m.literals = l
		}
	}
	return m
}

// maxLiterals bounds the strings literalsOf expands a regexp into.
const maxLiterals = 16

// literalsOf returns the finite set of strings that re matches, when re is
// built only of literals, alternations, concatenations, captures and small
// character classes (as "/(pricing|compare)" is), case-sensitively. An
// unanchored match of such a regexp is an occurrence of one of them:
// regexp.MatchString tries every position, and a literal of valid UTF-8
// occurs in a string only at positions it tries (UTF-8 is
// self-synchronizing; invalid bytes are stepped over one at a time).
// Literals holding U+FFFD are refused, as the regexp would match it
// against invalid bytes too.
func literalsOf(re *syntax.Regexp) ([]string, bool) {
	switch re.Op {
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return nil, false
		}
		for _, r := range re.Rune {
			if r == utf8.RuneError {
				return nil, false
			}
		}
		return []string{string(re.Rune)}, true
	case syntax.OpEmptyMatch:
		return []string{""}, true
	case syntax.OpCapture:
		return literalsOf(re.Sub[0])
	case syntax.OpCharClass:
		var out []string
		for i := 0; i+1 < len(re.Rune); i += 2 {
			for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
				if len(out) == maxLiterals || r == utf8.RuneError || r > unicode.MaxRune || (r >= 0xD800 && r <= 0xDFFF) {
					return nil, false
				}
				out = append(out, string(r))
			}
		}
		return out, len(out) > 0
	case syntax.OpAlternate:
		var out []string
		for _, sub := range re.Sub {
			l, ok := literalsOf(sub)
			if !ok || len(out)+len(l) > maxLiterals {
				return nil, false
			}
			out = append(out, l...)
		}
		return out, true
	case syntax.OpConcat:
		out := []string{""}
		for _, sub := range re.Sub {
			l, ok := literalsOf(sub)
			if !ok || len(out)*len(l) > maxLiterals {
				return nil, false
			}
			next := make([]string, 0, len(out)*len(l))
			for _, a := range out {
				for _, b := range l {
					next = append(next, a+b)
				}
			}
			out = next
		}
		return out, true
	}
	return nil, false
}

// memberCall returns e as a call of the member function name with n
// arguments.
func memberCall(e ast.Expr, name string, n int) (ast.CallExpr, bool) {
	if e.Kind() != ast.CallKind {
		return nil, false
	}
	c := e.AsCall()
	return c, c.FunctionName() == name && c.IsMemberFunction() && len(c.Args()) == n
}

func stringLiteral(e ast.Expr) (string, bool) {
	if e.Kind() != ast.LiteralKind {
		return "", false
	}
	s, ok := e.AsLiteral().(types.String)
	return string(s), ok
}

// isEventProperties reports whether e is event.properties.
func isEventProperties(e ast.Expr) bool {
	if e.Kind() != ast.SelectKind {
		return false
	}
	s := e.AsSelect()
	return !s.IsTestOnly() && s.FieldName() == "properties" &&
		s.Operand().Kind() == ast.IdentKind && s.Operand().AsIdent() == "event"
}
