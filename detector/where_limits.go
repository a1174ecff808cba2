package detector

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/functions"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/overloads"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/interpreter"
)

// MaxWhereStringBytes bounds a string that one call in a where expression
// may build. CEL charges a call's cost only after it returns, so replace,
// join and format, whose result can be far larger than their arguments
// (30 KB replaced into each of 30 KB is 900 MB), check the size of their
// result before they build it, and fail instead: the expression does not
// match. Every other string a where builds is charged per byte, so the
// cost limit bounds it.
const MaxWhereStringBytes = 1 << 20

// errWhereStopped marks an evaluation stopped by a limit rather than
// failed on the event's data.
var errWhereStopped = errors.New("where stopped by a limit")

// sizeLimited returns the error a checked function answers when its result
// would be n bytes.
func sizeLimited(fn string, n int) ref.Val {
	return types.WrapErr(fmt.Errorf("%s would build a string of %d bytes, more than the %d a where may build: %w", fn, n, MaxWhereStringBytes, errWhereStopped))
}

// checkedStrings rebinds the strings extension's functions that can build
// a value much larger than their arguments to versions that check the
// size first. base is an environment with the extension, whose bindings
// the checked versions call once the size is known to be within bounds.
func checkedStrings(base *cel.Env) ([]cel.EnvOption, error) {
	fns := base.Functions()
	find := func(fn, id string) (*functions.Overload, error) {
		bs, err := fns[fn].Bindings()
		if err != nil {
			return nil, err
		}
		for _, b := range bs {
			if b.Operator == id {
				return b, nil
			}
		}
		return nil, fmt.Errorf("the strings extension has no overload %s of %s", id, fn)
	}
	replace, err := find("replace", "string_replace_string_string")
	if err != nil {
		return nil, err
	}
	replaceN, err := find("replace", "string_replace_string_string_int")
	if err != nil {
		return nil, err
	}
	join, err := find("join", "list_join")
	if err != nil {
		return nil, err
	}
	joinSep, err := find("join", "list_join_string")
	if err != nil {
		return nil, err
	}
	format, err := find("format", "string_format")
	if err != nil {
		return nil, err
	}
	str, listStr, listDyn := cel.StringType, cel.ListType(cel.StringType), cel.ListType(cel.DynType)
	// indexOf and lastIndexOf search naively, characters × characters,
	// charged after: a 2 KB needle in a 64 KB property took 150 ms.
	var searches []cel.EnvOption
	for _, o := range []struct {
		fn, id string
		args   []*cel.Type
	}{
		{"indexOf", "string_index_of_string", []*cel.Type{str, str}},
		{"indexOf", "string_index_of_string_int", []*cel.Type{str, str, cel.IntType}},
		{"lastIndexOf", "string_last_index_of_string", []*cel.Type{str, str}},
		{"lastIndexOf", "string_last_index_of_string_int", []*cel.Type{str, str, cel.IntType}},
	} {
		orig, err := find(o.fn, o.id)
		if err != nil {
			return nil, err
		}
		call := orig.Function
		if call == nil {
			call = func(args ...ref.Val) ref.Val { return orig.Binary(args[0], args[1]) }
		}
		fn := o.fn
		searches = append(searches, cel.Function(fn, cel.MemberOverload(o.id, o.args, cel.IntType,
			cel.FunctionBinding(func(args ...ref.Val) ref.Val {
				s, _ := args[0].(types.String)
				sub, _ := args[1].(types.String)
				n, m := utf8.RuneCountInString(string(s)), utf8.RuneCountInString(string(sub))
				if cost := uint64(math.Ceil(float64(n) * float64(m) * 0.1)); cost > MaxWhereCost {
					return types.WrapErr(fmt.Errorf("%s of %d characters in %d would cost %d, more than the %d a where may: %w", fn, m, n, cost, MaxWhereCost, errWhereStopped))
				}
				return call(args...)
			}))))
	}
	return append(searches,
		cel.Function("replace",
			cel.MemberOverload("string_replace_string_string", []*cel.Type{str, str, str}, str,
				cel.FunctionBinding(func(args ...ref.Val) ref.Val {
					if n, ok := replacedSize(args, -1); !ok {
						return sizeLimited("replace", n)
					}
					return replace.Function(args...)
				})),
			cel.MemberOverload("string_replace_string_string_int", []*cel.Type{str, str, str, cel.IntType}, str,
				cel.FunctionBinding(func(args ...ref.Val) ref.Val {
					limit, _ := args[3].(types.Int)
					if n, ok := replacedSize(args, int(limit)); !ok {
						return sizeLimited("replace", n)
					}
					return replaceN.Function(args...)
				}))),
		cel.Function("join",
			cel.MemberOverload("list_join", []*cel.Type{listStr}, str,
				cel.UnaryBinding(func(list ref.Val) ref.Val {
					if n, ok := joinedSize(list, ""); !ok {
						return sizeLimited("join", n)
					}
					return join.Unary(list)
				})),
			cel.MemberOverload("list_join_string", []*cel.Type{listStr, str}, str,
				cel.BinaryBinding(func(list, sep ref.Val) ref.Val {
					s, _ := sep.(types.String)
					if n, ok := joinedSize(list, string(s)); !ok {
						return sizeLimited("join", n)
					}
					return joinSep.Binary(list, sep)
				}))),
		cel.Function("format",
			cel.MemberOverload("string_format", []*cel.Type{str, listDyn}, str,
				cel.FunctionBinding(func(args ...ref.Val) ref.Val {
					f, _ := args[0].(types.String)
					n := len(f) + formattedSize(args[1], 0)
					if n > MaxWhereStringBytes {
						return sizeLimited("format", n)
					}
					return format.Function(args...)
				}))),
	), nil
}

// replacedSize returns the length of s.replace(old, new[, limit]) (limit <
// 0: all), and whether it is within MaxWhereStringBytes. Arguments of other
// types are left to the extension to reject.
func replacedSize(args []ref.Val, limit int) (int, bool) {
	s, ok1 := args[0].(types.String)
	old, ok2 := args[1].(types.String)
	repl, ok3 := args[2].(types.String)
	if !ok1 || !ok2 || !ok3 {
		return 0, true
	}
	var count int
	if old == "" {
		count = utf8.RuneCountInString(string(s)) + 1
	} else {
		count = strings.Count(string(s), string(old))
	}
	if limit >= 0 && limit < count {
		count = limit
	}
	grow := len(repl) - len(old)
	if grow <= 0 {
		return len(s), true
	}
	if count > (MaxWhereStringBytes-len(s))/grow {
		return len(s) + min(count, MaxWhereStringBytes)*grow, false
	}
	n := len(s) + count*grow
	return n, n <= MaxWhereStringBytes
}

// joinedSize returns the length of list.join(sep), and whether it is
// within MaxWhereStringBytes.
func joinedSize(list ref.Val, sep string) (int, bool) {
	l, ok := list.(traits.Lister)
	if !ok {
		return 0, true
	}
	size, _ := l.Size().(types.Int)
	n := 0
	for i := range int(size) {
		if s, ok := l.Get(types.Int(i)).(types.String); ok {
			n += len(s)
		}
		if i > 0 {
			n += len(sep)
		}
		if n > MaxWhereStringBytes {
			return n, false
		}
	}
	return n, true
}

// formattedSize bounds the length of v formatted by any clause of format
// (%x doubles a string; %f of a large double with the extension's largest
// precision is a few hundred digits), up to just over MaxWhereStringBytes.
func formattedSize(v ref.Val, depth int) int {
	const scalar = 512
	if depth > 64 {
		return scalar
	}
	switch v := v.(type) {
	case types.String:
		return 2 * len(v)
	case types.Bytes:
		return 2 * len(v)
	case traits.Lister:
		n := 2
		size, _ := v.Size().(types.Int)
		for i := range int(size) {
			n += 2 + formattedSize(v.Get(types.Int(i)), depth+1)
			if n > MaxWhereStringBytes {
				break
			}
		}
		return n
	case traits.Mapper:
		n := 2
		for it := v.Iterator(); it.HasNext() == types.True; {
			k := it.Next()
			n += 4 + formattedSize(k, depth+1) + formattedSize(v.Get(k), depth+1)
			if n > MaxWhereStringBytes {
				break
			}
		}
		return n
	}
	return scalar
}

// checkRegexLiterals returns the first matches call whose pattern is not a string
// literal: a pattern read from the event would be compiled for every event,
// and its size, as the time to match it, is the event sender's choice.
func checkRegexLiterals(e ast.Expr) (ast.Expr, bool) {
	var bad ast.Expr
	ast.PostOrderVisit(e, ast.NewExprVisitor(func(e ast.Expr) {
		if bad != nil || e.Kind() != ast.CallKind {
			return
		}
		c := e.AsCall()
		if c.FunctionName() != overloads.Matches || len(c.Args()) == 0 {
			return
		}
		if _, ok := stringLiteral(c.Args()[len(c.Args())-1]); !ok {
			bad = e
		}
	}))
	return bad, bad == nil
}

// whereStopped reports whether err is an evaluation stopped by the cost
// limit or a size check, rather than an error on the event's data.
func whereStopped(err error) bool {
	var ce interpreter.EvalCancelledError
	return errors.Is(err, errWhereStopped) || errors.As(err, &ce)
}

// whereCost charges, per byte of the string they build, the calls CEL's
// own costs charge per call: concatenation of values of type dyn
// (properties: CEL charges per byte only when both sides are known to be
// strings), format and strings.quote. Without it, a loop over a split
// property concatenating 30 KB values built hundreds of megabytes within
// the cost limit. Calls that build nothing keep CEL's costs, which
// propertyMatch relies on.
type whereCost struct{}

var _ interpreter.ActualCostEstimator = whereCost{}

// CallCost implements interpreter.ActualCostEstimator.
func (whereCost) CallCost(function, _ string, args []ref.Val, result ref.Val) *uint64 {
	var n int
	switch r := result.(type) {
	case types.String:
		n = len(r)
	case types.Bytes:
		n = len(r)
	default:
		return nil
	}
	var cost uint64
	switch function {
	case operators.Add:
		// As CEL charges string + string.
		cost = uint64(math.Ceil(float64(n) * 0.1))
	case "format", "strings.quote":
		// CEL's charge for reading the format or the quoted string, plus
		// the result.
		in := 0
		if s, ok := args[0].(types.String); ok {
			in = len(s)
		}
		cost = 1 + uint64(math.Ceil(float64(in)*0.1)) + uint64(math.Ceil(float64(n)*0.1))
	default:
		return nil
	}
	return &cost
}

// checkedMatches replaces CEL's compiled-pattern matches (every pattern is
// a literal, see checkRegexLiterals) with one that checks its cost before
// matching: CEL charges (1 + characters)/10 × pattern characters/4 after
// the match, and a 2 KB pattern over a 64 KB property took two seconds.
// Keyed by overload, it takes precedence over CEL's own.
func checkedMatches() []*interpreter.RegexOptimization {
	factory := func(call interpreter.InterpretableCall, pattern string) (interpreter.InterpretableCall, error) {
		re, err := regexp.Compile(pattern)
		if err != nil {
			return nil, err
		}
		regexCost := uint64(math.Ceil(float64(utf8.RuneCountInString(pattern)) * 0.25))
		return interpreter.NewCall(call.ID(), call.Function(), call.OverloadID(), call.Args(), func(values ...ref.Val) ref.Val {
			if len(values) != 2 {
				return types.NoSuchOverloadErr()
			}
			in, ok := values[0].(types.String)
			if !ok {
				return types.NoSuchOverloadErr()
			}
			n := utf8.RuneCountInString(string(in))
			if cost := uint64(math.Ceil((1+float64(n))*0.1)) * regexCost; cost > MaxWhereCost {
				return types.WrapErr(fmt.Errorf("matches over %d characters would cost %d, more than the %d a where may: %w", n, cost, MaxWhereCost, errWhereStopped))
			}
			return types.Bool(re.MatchString(string(in)))
		}), nil
	}
	return []*interpreter.RegexOptimization{
		{Function: overloads.Matches, OverloadID: overloads.Matches, RegexIndex: 1, Factory: factory},
		{Function: overloads.Matches, OverloadID: overloads.MatchesString, RegexIndex: 1, Factory: factory},
	}
}
