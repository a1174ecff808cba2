package detector

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/ext"
	"github.com/google/cel-go/interpreter"
)

// The `where` language is CEL (https://cel.dev) with the standard
// functions, the strings extension (lowerAscii, split, …), optional values
// (event.properties.?plan.orValue("")) and numbers of different types
// comparable with each other. Its only variable is `event`, of type
// dowser.Event:
//
//	event.id, event.type, event.source, event.content_id   string
//	event.time                                             timestamp
//	event.customer.id, .anonymous_id, .email,
//	  .account_id, .lifecycle                              string
//	event.properties                                       map(string, dyn)
//
// Unknown fields are compile errors, so typos are caught when a signal is
// saved. customer.id, account_id and lifecycle are those the engine counts
// the event for: filled from the identity link when the event is anonymous,
// and lifecycle "prospect" when unknown. A string field that is absent is
// "", and has() is false for it. Property values are as JSON decodes them:
// string, double, bool, list, map, null.

// whereEvent is the value of `event` during one evaluation. Engines keep
// one per event context and refill it for each event that reaches a where.
type whereEvent struct {
	id, typ, source, contentID string
	time                       time.Time
	customer                   whereCustomer
	properties                 map[string]any
}

type whereCustomer struct {
	id, anonymousID, email, accountID, lifecycle string
}

const (
	whereEventType    = "dowser.Event"
	whereCustomerType = "dowser.Customer"
)

// whereField is one field of a where type: its CEL type and how to read it
// from the Go value (a *whereEvent or *whereCustomer).
type whereField struct {
	typ   *types.Type
	get   func(obj any) any
	isSet func(obj any) bool
}

func eventString(f func(e *whereEvent) string) whereField {
	return whereField{
		typ:   types.StringType,
		get:   func(o any) any { return f(o.(*whereEvent)) },
		isSet: func(o any) bool { return f(o.(*whereEvent)) != "" },
	}
}

func customerString(f func(c *whereCustomer) string) whereField {
	return whereField{
		typ:   types.StringType,
		get:   func(o any) any { return f(o.(*whereCustomer)) },
		isSet: func(o any) bool { return f(o.(*whereCustomer)) != "" },
	}
}

var whereTypes = map[string]map[string]whereField{
	whereEventType: {
		"id":         eventString(func(e *whereEvent) string { return e.id }),
		"type":       eventString(func(e *whereEvent) string { return e.typ }),
		"source":     eventString(func(e *whereEvent) string { return e.source }),
		"content_id": eventString(func(e *whereEvent) string { return e.contentID }),
		"time": {
			typ:   types.TimestampType,
			get:   func(o any) any { return o.(*whereEvent).time },
			isSet: func(o any) bool { return !o.(*whereEvent).time.IsZero() },
		},
		"customer": {
			typ:   types.NewObjectType(whereCustomerType),
			get:   func(o any) any { return &o.(*whereEvent).customer },
			isSet: func(any) bool { return true },
		},
		"properties": {
			typ: types.NewMapType(types.StringType, types.DynType),
			get: func(o any) any {
				if p := o.(*whereEvent).properties; p != nil {
					return p
				}
				return map[string]any{}
			},
			isSet: func(o any) bool { return len(o.(*whereEvent).properties) > 0 },
		},
	},
	whereCustomerType: {
		"id":           customerString(func(c *whereCustomer) string { return c.id }),
		"anonymous_id": customerString(func(c *whereCustomer) string { return c.anonymousID }),
		"email":        customerString(func(c *whereCustomer) string { return c.email }),
		"account_id":   customerString(func(c *whereCustomer) string { return c.accountID }),
		"lifecycle":    customerString(func(c *whereCustomer) string { return c.lifecycle }),
	},
}

// whereProvider adds the dowser.Event and dowser.Customer types to CEL's
// type registry.
type whereProvider struct{ *types.Registry }

func (p whereProvider) FindStructType(name string) (*types.Type, bool) {
	if _, ok := whereTypes[name]; ok {
		return types.NewTypeTypeWithParam(types.NewObjectType(name)), true
	}
	return p.Registry.FindStructType(name)
}

func (p whereProvider) FindStructFieldNames(name string) ([]string, bool) {
	if fields, ok := whereTypes[name]; ok {
		names := make([]string, 0, len(fields))
		for n := range fields {
			names = append(names, n)
		}
		slices.Sort(names)
		return names, true
	}
	return p.Registry.FindStructFieldNames(name)
}

func (p whereProvider) FindStructFieldType(name, fieldName string) (*types.FieldType, bool) {
	fields, ok := whereTypes[name]
	if !ok {
		return p.Registry.FindStructFieldType(name, fieldName)
	}
	f, ok := fields[fieldName]
	if !ok {
		return nil, false
	}
	return &types.FieldType{
		Type:    f.typ,
		IsSet:   f.isSet,
		GetFrom: func(obj any) (any, error) { return f.get(obj), nil },
	}, true
}

func (p whereProvider) NewValue(name string, fields map[string]ref.Val) ref.Val {
	if _, ok := whereTypes[name]; ok {
		return types.NewErr("cannot construct %s", name)
	}
	return p.Registry.NewValue(name, fields)
}

// whereEnv is the CEL environment of every where expression: built once,
// immutable, and safe for concurrent use, like the programs it compiles.
var whereEnv = sync.OnceValues(func() (*cel.Env, error) {
	reg, err := types.NewRegistry()
	if err != nil {
		return nil, err
	}
	base, err := cel.NewEnv(
		cel.CustomTypeProvider(whereProvider{reg}),
		cel.Variable("event", cel.ObjectType(whereEventType)),
		cel.OptionalTypes(),
		ext.Strings(),
		cel.CrossTypeNumericComparisons(true),
		cel.ParserRecursionLimit(100),
		cel.ParserExpressionSizeLimit(MaxWhereBytes),
	)
	if err != nil {
		return nil, err
	}
	checked, err := checkedStrings(base)
	if err != nil {
		return nil, err
	}
	return base.Extend(checked...)
})

// whereProgram is a compiled where expression: its CEL program and, for a
// shape common enough to matter, an evaluation of the same meaning that
// does not go through CEL.
type whereProgram struct {
	src  string
	prg  cel.Program
	prop *propertyMatch // nil: CEL only
}

// compileWhere compiles a where expression, checking that it is boolean.
// The error lists CEL's problems, each with its line and column.
func compileWhere(src string) (*whereProgram, error) {
	if len(src) > MaxWhereBytes {
		return nil, fmt.Errorf("is %d bytes, at most %d allowed", len(src), MaxWhereBytes)
	}
	env, err := whereEnv()
	if err != nil {
		return nil, fmt.Errorf("building the CEL environment: %w", err)
	}
	ast, iss := env.Compile(src)
	if iss.Err() != nil {
		var msgs []string
		for _, e := range iss.Errors() {
			msgs = append(msgs, fmt.Sprintf("%s (line %d, column %d)", e.Message, e.Location.Line(), e.Location.Column()+1))
		}
		if len(msgs) == 0 {
			msgs = append(msgs, iss.Err().Error())
		}
		return nil, errors.New(strings.Join(msgs, "; "))
	}
	if t := ast.OutputType(); !t.IsExactType(types.BoolType) {
		return nil, fmt.Errorf("must be true or false, but it is of type %s (compare it with ==, or test a property with has())", t)
	}
	if bad, ok := checkRegexLiterals(ast.NativeRep().Expr()); !ok {
		loc := ast.NativeRep().SourceInfo().GetStartLocation(bad.ID())
		return nil, fmt.Errorf("the pattern of matches must be a string literal, not computed from the event (line %d, column %d)", loc.Line(), loc.Column()+1)
	}
	prg, err := env.Program(ast, cel.CostLimit(MaxWhereCost), cel.CostTracking(whereCost{}), cel.OptimizeRegex(checkedMatches()...), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, err
	}
	return &whereProgram{src: src, prg: prg, prop: propertyMatchOf(ast.NativeRep().Expr())}, nil
}

// where evaluates w over the event of x: true only when it evaluates to
// true without error.
func (x *evalCtx) where(w *whereProgram) bool {
	// Signals often share a where (the default pack's URL test): its
	// result for this event is remembered.
	for i := range x.whereN {
		if x.wheres[i].src == w.src {
			return x.wheres[i].matched
		}
	}
	matched := x.evalWhere(w)
	if x.whereN < len(x.wheres) {
		x.wheres[x.whereN] = whereResult{w.src, matched}
		x.whereN++
	}
	return matched
}

// whereResult is a where expression's result for the event being
// evaluated.
type whereResult struct {
	src     string
	matched bool
}

func (x *evalCtx) evalWhere(w *whereProgram) bool {
	if w.prop != nil {
		if matched, ok := w.prop.eval(x.ev.Properties); ok {
			return matched
		}
	}
	if !x.celReady {
		ev := x.ev
		x.cel = whereEvent{
			id: ev.ID, typ: ev.Type, source: ev.Source, contentID: ev.ContentID, time: ev.Time,
			customer: whereCustomer{
				id: x.customerID, anonymousID: ev.Customer.AnonymousID, email: ev.Customer.Email,
				accountID: x.account, lifecycle: x.effectiveLifecycle(),
			},
			properties: ev.Properties,
		}
		x.celReady = true
	}
	out, _, err := w.prg.Eval(x)
	if err != nil && whereStopped(err) {
		x.whereStops++
	}
	return err == nil && out == types.True
}

// WhereStops returns how many where evaluations the engine stopped at a
// limit (MaxWhereCost, MaxWhereStringBytes) since it was made: each of them
// did not match.
func (e *Engine) WhereStops() uint64 { return e.x.whereStops }

// ResolveName implements interpreter.Activation: `event` is the event.
func (x *evalCtx) ResolveName(name string) (any, bool) {
	if name == "event" {
		return &x.cel, true
	}
	return nil, false
}

// Parent implements interpreter.Activation.
func (x *evalCtx) Parent() interpreter.Activation { return nil }

var _ interpreter.Activation = (*evalCtx)(nil)
