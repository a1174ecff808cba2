package detector

import (
	"math"
	"regexp"
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
	maxLen    int // in bytes
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
	return &propertyMatch{name: name, def: def, re: re, maxLen: maxLen}
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
