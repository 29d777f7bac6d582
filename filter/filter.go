// Package filter compiles and runs endpoints' payload filters: CEL
// expressions (https://cel.dev) over an event that say whether an endpoint
// receives it. A filter is compiled and type-checked once, when it is
// saved, and again when an instance loads its endpoint; it then runs for
// every event its endpoint is subscribed to, at a bounded cost.
//
// A filter sees these variables:
//
//	id          string               the event's id
//	tenant      string               its tenant
//	type        string               its type
//	time        timestamp            when it occurred (created_at)
//	data        dyn                  its data, as JSON values (numbers are doubles)
//	headers     map(string, string)  the Kafka record's headers (not hookstream-*)
//	attributes  map(string, string)  its CloudEvents context attributes and extensions
//
// and must be a boolean expression, for example
//
//	type == "invoice.paid" && data.amount >= 1000 && headers["region"] == "eu"
//
// Compile refuses an expression longer than MaxLen bytes, nested deeper
// than MaxDepth, calling matches() (a regular expression's run cannot be
// stopped by the cost limit), or not of type bool, with the position of
// the error.
// Match stops an evaluation past CostLimit (CEL's cost units) or
// MemoryLimit and reports it as an error: callers treat an error as "does
// not pass". It imports nothing of hookstream and does no I/O.
package filter

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
)

// Bounds on a filter.
const (
	// MaxLen is the longest filter, in bytes.
	MaxLen = 4096
	// MaxDepth bounds the nesting of the parser's recursion (parentheses,
	// calls, operators).
	MaxDepth = 32
	// CostLimit bounds one evaluation, in CEL's cost units (about one per
	// operation, one per few bytes a string function reads, one per
	// element a comprehension visits).
	CostLimit = 10_000
	// MemoryLimit bounds what one evaluation may allocate, in bytes.
	MemoryLimit = 1 << 20
)

// ErrLimit is the error Match returns for an evaluation stopped by
// CostLimit or MemoryLimit.
var ErrLimit = errors.New("filter: evaluation cost limit exceeded")

// Error is a filter that does not compile: what is wrong, and where. Line
// and Column count from 1 (Column in characters); both are 0 when the
// error has no position.
type Error struct {
	Line, Column int
	Reason       string
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return "filter: " + e.Reason
	}
	return fmt.Sprintf("filter: line %d, column %d: %s", e.Line, e.Column, e.Reason)
}

// Filter is a compiled filter, safe for concurrent use.
type Filter struct {
	src  string
	prog cel.Program
}

// Source returns the expression the filter was compiled from.
func (f *Filter) Source() string { return f.src }

var (
	envOnce sync.Once
	env     *cel.Env
	envErr  error
)

func environment() (*cel.Env, error) {
	envOnce.Do(func() {
		env, envErr = cel.NewEnv(
			cel.Variable("id", cel.StringType),
			cel.Variable("tenant", cel.StringType),
			cel.Variable("type", cel.StringType),
			cel.Variable("time", cel.TimestampType),
			cel.Variable("data", cel.DynType),
			cel.Variable("headers", cel.MapType(cel.StringType, cel.StringType)),
			cel.Variable("attributes", cel.MapType(cel.StringType, cel.StringType)),
			cel.CrossTypeNumericComparisons(true),
			cel.ParserRecursionLimit(MaxDepth),
			cel.ParserExpressionSizeLimit(MaxLen),
		)
	})
	return env, envErr
}

// Compile parses and type-checks a filter. Its errors are *Error, with the
// position of the first problem.
func Compile(src string) (*Filter, error) {
	switch {
	case strings.TrimSpace(src) == "":
		return nil, &Error{Reason: "is empty"}
	case len(src) > MaxLen:
		return nil, &Error{Reason: fmt.Sprintf("is %d bytes, more than %d", len(src), MaxLen)}
	case !utf8.ValidString(src):
		return nil, &Error{Reason: "is not valid UTF-8"}
	case strings.ContainsRune(src, 0):
		return nil, &Error{Reason: "contains a NUL character"}
	}
	e, err := environment()
	if err != nil {
		return nil, fmt.Errorf("filter: environment: %w", err)
	}
	ast, iss := e.Compile(src)
	if iss != nil && iss.Err() != nil {
		out := &Error{Reason: iss.Err().Error()}
		if errs := iss.Errors(); len(errs) > 0 {
			first := errs[0]
			out.Reason = first.Message
			if loc := first.Location; loc != nil && loc.Line() > 0 {
				out.Line, out.Column = loc.Line(), loc.Column()+1
			}
		}
		return nil, out
	}
	if e := refuseCalls(ast.NativeRep()); e != nil {
		return nil, e
	}
	if t := ast.OutputType(); !t.IsExactType(types.BoolType) && !t.IsExactType(types.DynType) {
		return nil, &Error{Line: 1, Column: 1, Reason: "must be a boolean expression, not " + t.String()}
	}
	prog, err := e.Program(ast,
		cel.EvalOptions(cel.OptOptimize),
		cel.CostLimit(CostLimit),
		cel.MemoryLimit(MemoryLimit),
	)
	if err != nil {
		// OptOptimize evaluates constant parts now: a constant regular
		// expression that does not compile fails here.
		return nil, &Error{Reason: err.Error()}
	}
	return &Filter{src: src, prog: prog}, nil
}

// refused are the functions a filter may not call, with why: their cost
// is charged after they return, so the cost limit cannot stop one call,
// and one call over an event's data can take long.
var refused = map[string]string{
	"matches": "matches() is not allowed: one regular expression over up to a MiB of data can take long, and the cost limit cannot stop it midway; use startsWith(), endsWith(), contains() or ==",
}

// refuseCalls returns an *Error at the first call of a refused function.
func refuseCalls(a *celast.AST) *Error {
	var out *Error
	celast.PreOrderVisit(a.Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		if out != nil || e.Kind() != celast.CallKind {
			return
		}
		if why, ok := refused[e.AsCall().FunctionName()]; ok {
			out = &Error{Reason: why}
			if loc := a.SourceInfo().GetStartLocation(e.ID()); loc.Line() > 0 {
				out.Line, out.Column = loc.Line(), loc.Column()+1
			}
		}
	}))
	return out
}

// Event is what a filter sees of an event. Headers and Attributes are
// asked for only when a filter reads them.
type Event struct {
	ID, Tenant, Type string
	Time             time.Time
	Data             []byte // JSON
	Headers          func() map[string]string
	Attributes       func() map[string]string
}

// Input is an event prepared for the filters of the endpoints it reaches:
// its data is decoded once, at the first filter that reads it, whatever
// the number of filters. It is not safe for concurrent use.
type Input struct {
	ev      Event
	data    any
	dataErr error
	decoded bool
	headers map[string]string
	attrs   map[string]string
}

// NewInput prepares ev for Match.
func NewInput(ev Event) *Input { return &Input{ev: ev} }

// ResolveName is the input's CEL activation.
func (in *Input) ResolveName(name string) (any, bool) {
	switch name {
	case "id":
		return in.ev.ID, true
	case "tenant":
		return in.ev.Tenant, true
	case "type":
		return in.ev.Type, true
	case "time":
		return in.ev.Time, true
	case "data":
		if !in.decoded {
			in.decoded = true
			in.dataErr = json.Unmarshal(in.ev.Data, &in.data)
		}
		if in.dataErr != nil {
			return types.NewErr("data is not JSON"), true
		}
		return in.data, true
	case "headers":
		if in.headers == nil {
			in.headers = clean(in.ev.Headers)
		}
		return in.headers, true
	case "attributes":
		if in.attrs == nil {
			in.attrs = clean(in.ev.Attributes)
		}
		return in.attrs, true
	}
	return nil, false
}

// Parent is nil: an input has every variable itself.
func (in *Input) Parent() cel.Activation { return nil }

// clean returns the map f makes, its strings valid UTF-8 (CEL strings
// must be), never nil.
func clean(f func() map[string]string) map[string]string {
	if f == nil {
		return map[string]string{}
	}
	m := f()
	if m == nil {
		return map[string]string{}
	}
	for k, v := range m {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			delete(m, k)
			m[strings.ToValidUTF8(k, "\uFFFD")] = strings.ToValidUTF8(v, "\uFFFD")
		}
	}
	return m
}

// Match reports whether the filter lets the event through. An error (a
// missing field the filter did not guard with has(), a wrong type, the
// cost or memory limit: ErrLimit) means it does not.
func (f *Filter) Match(in *Input) (bool, error) {
	out, _, err := f.prog.Eval(in)
	if err != nil {
		if strings.Contains(err.Error(), "limit exceeded") {
			return false, ErrLimit
		}
		return false, fmt.Errorf("filter: %w", err)
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("filter: the expression gave %s, not a bool", out.Type().TypeName())
	}
	return b, nil
}
