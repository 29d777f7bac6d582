// Package catalog compiles the event-type catalog's JSON Schemas and holds
// them, compiled, for the stages and the API that check events against
// them.
//
// Every schema is tenant input, so compiling refuses what could hurt the
// process: references outside the schema (nothing is ever fetched, from the
// network or the disk), schemas larger or deeper than the catalog's
// limits, and schemas whose evaluation could multiply (anyOf of $refs to
// anyOfs…: the "billion laughs" of JSON Schema), so that checking an event
// costs at most a bounded number of schema evaluations per value in it.
package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"

	"github.com/hookstream/hookstream/schema"
)

// schemaURL is where a type's schema is said to live while it is compiled:
// relative references resolve against it (or the schema's $id), and
// anything they name outside the schema is refused, never fetched.
const schemaURL = "https://schemas.hookstream.invalid/event-type.json"

// MaxFanIn bounds the schemas evaluated on one value of an event's data:
// a schema that could evaluate more at some place is refused when saved.
const MaxFanIn = 256

// maxWork bounds the work of the fan-in analysis (schemas in the sets of
// the places it visits): a schema whose analysis would take longer is
// refused as too complex.
const maxWork = 100000

// Type is an event type with its schema compiled.
type Type struct {
	schema.EventType
	compiled *jsonschema.Schema
}

// HasSchema reports whether the type has a schema to check data against.
func (t *Type) HasSchema() bool { return t.compiled != nil }

// Compile checks an event type's schema and example and compiles the
// schema. Its errors are *schema.FieldError naming "schema" or "example".
func Compile(et schema.EventType) (*Type, error) {
	t := &Type{EventType: et}
	if len(bytes.TrimSpace(et.Schema)) > 0 {
		sch, err := compileSchema(et.Schema)
		if err != nil {
			return nil, &schema.FieldError{Field: "schema", Reason: err.Error()}
		}
		t.compiled = sch
	}
	if len(bytes.TrimSpace(et.Example)) > 0 {
		if len(et.Example) > schema.MaxTypeExampleBytes {
			return nil, &schema.FieldError{Field: "example", Reason: fmt.Sprintf("must be at most %d bytes", schema.MaxTypeExampleBytes)}
		}
		ev := schema.Event{Tenant: "x", Type: et.Name, Data: et.Example}
		if err := ev.Validate(); err != nil {
			var fe *schema.FieldError
			if errors.As(err, &fe) && fe.Field == "data" {
				return nil, &schema.FieldError{Field: "example", Reason: fe.Reason}
			}
		}
		if err := t.Check(et.Example); err != nil {
			var se *schema.SchemaError
			if errors.As(err, &se) {
				return nil, &schema.FieldError{Field: "example", Reason: "does not match the schema at " + strconv.Quote(orRoot(se.Pointer)) + ": " + se.Reason}
			}
			return nil, &schema.FieldError{Field: "example", Reason: err.Error()}
		}
	}
	return t, nil
}

func orRoot(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

// refuse is the compiler's loader: a schema may only refer to itself.
type refuse struct{}

func (refuse) Load(url string) (any, error) {
	return nil, errors.New("only references within the schema are allowed; nothing is fetched")
}

func compileSchema(raw json.RawMessage) (*jsonschema.Schema, error) {
	if len(raw) > schema.MaxTypeSchemaBytes {
		return nil, fmt.Errorf("must be at most %d bytes", schema.MaxTypeSchemaBytes)
	}
	if !utf8.Valid(raw) {
		return nil, errors.New("must be valid UTF-8")
	}
	if schema.JSONDepth(raw) > schema.MaxTypeSchemaDepth {
		return nil, fmt.Errorf("must not nest arrays and objects more than %d levels deep", schema.MaxTypeSchemaDepth)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, errors.New("is not valid JSON")
	}
	switch doc.(type) {
	case map[string]any, bool:
	default:
		return nil, errors.New("must be a JSON object (or a boolean)")
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(refuse{})
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, compileError(err)
	}
	sch, err := c.Compile(schemaURL)
	if err != nil {
		return nil, compileError(err)
	}
	if err := checkFanIn(sch); err != nil {
		return nil, err
	}
	// A schema that loops in place on any value (a $ref to a $ref back)
	// would refuse every event.
	if err := sch.Validate(map[string]any{}); err != nil {
		var ve *jsonschema.ValidationError
		if errors.As(err, &ve) && refCycle(ve) {
			_, reason := firstCause(ve)
			return nil, errors.New("loops: " + reason)
		}
	}
	return sch, nil
}

// compileError says why a schema does not compile, without the library's
// own file names.
func compileError(err error) error {
	var le *jsonschema.LoadURLError
	if errors.As(err, &le) {
		return fmt.Errorf("refers to %s: %v", strconv.Quote(clip(le.URL, 200)), le.Err)
	}
	var ve *jsonschema.SchemaValidationError
	if errors.As(err, &ve) {
		var v *jsonschema.ValidationError
		if errors.As(ve.Err, &v) {
			ptr, reason := firstCause(v)
			return fmt.Errorf("is not a valid JSON Schema at %s: %s", strconv.Quote(orRoot(ptr)), reason)
		}
	}
	return errors.New(clip(strings.ReplaceAll(err.Error(), schemaURL, ""), 500))
}

func clip(s string, n int) string {
	s = schema.CleanText(s)
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// Check validates data against the type's schema: nil when it matches or
// the type has none, else a *schema.SchemaError.
func (t *Type) Check(data []byte) error {
	if t.compiled == nil {
		return nil
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return &schema.SchemaError{Type: t.Name, Reason: "not valid JSON"}
	}
	err = t.compiled.Validate(v)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return &schema.SchemaError{Type: t.Name, Reason: clip(err.Error(), 500)}
	}
	ptr, reason := firstCause(ve)
	return &schema.SchemaError{Type: t.Name, Pointer: clip(ptr, 256), Reason: reason}
}

// refCycle reports whether a validation failed on a $ref loop.
func refCycle(ve *jsonschema.ValidationError) bool {
	if _, ok := ve.ErrorKind.(*kind.RefCycle); ok {
		return true
	}
	for _, c := range ve.Causes {
		if refCycle(c) {
			return true
		}
	}
	return false
}

// firstCause returns the place and reason of the first failure at the
// bottom of a validation error's tree.
func firstCause(ve *jsonschema.ValidationError) (pointer, reason string) {
	for len(ve.Causes) > 0 {
		ve = ve.Causes[0]
	}
	var b strings.Builder
	for _, tok := range ve.InstanceLocation {
		b.WriteByte('/')
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(tok, "~", "~0"), "/", "~1"))
	}
	out := ve.BasicOutput()
	reason = "does not match"
	if out != nil && out.Error != nil {
		reason = out.Error.String()
	}
	return b.String(), clip(strings.ReplaceAll(reason, schemaURL, ""), 500)
}

// checkFanIn refuses a schema that could evaluate more than MaxFanIn
// schemas on one value. It follows the data abstractly, one place at a
// time: the set of schemas (with how many times each) applied at a place,
// then at each of its children (one per property name the schemas name,
// one for any other name, one per prefixItems index, one for any other
// item). In-place applicators (allOf, anyOf, oneOf, not, if/then/else,
// dependentSchemas, $ref, $dynamicRef) add to the set; a set seen before
// leads where it led then. A recursive schema that merely follows the data
// down (a tree) keeps its sets small; one that doubles at every step does
// not.
func checkFanIn(root *jsonschema.Schema) error {
	seen := map[string]bool{}
	work := 0
	var walk func(set map[*jsonschema.Schema]int, depth int) error
	walk = func(set map[*jsonschema.Schema]int, depth int) error {
		set, err := closeInPlace(set)
		if err != nil {
			return err
		}
		if len(set) == 0 || depth > schema.MaxDataDepth {
			return nil
		}
		key := setKey(set)
		if seen[key] {
			return nil
		}
		seen[key] = true
		work += len(set)
		if work > maxWork {
			return errors.New("is too complex to check events against at a bounded cost")
		}
		for _, child := range children(set) {
			if err := walk(child, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(map[*jsonschema.Schema]int{root: 1}, 0)
}

// closeInPlace adds to set every schema its schemas apply in place,
// counting each as often as it is reached.
func closeInPlace(set map[*jsonschema.Schema]int) (map[*jsonschema.Schema]int, error) {
	out := map[*jsonschema.Schema]int{}
	total := 0
	var add func(s *jsonschema.Schema, n int, path map[*jsonschema.Schema]bool) error
	add = func(s *jsonschema.Schema, n int, path map[*jsonschema.Schema]bool) error {
		if s == nil || path[s] {
			// A loop in place fails at run time (the validator detects
			// it) without evaluating more.
			return nil
		}
		out[s] += n
		total += n
		if total > MaxFanIn {
			return fmt.Errorf("could evaluate more than %d schemas on one value of an event (through $ref, allOf, anyOf, oneOf…): refused, as checking an event must stay cheap", MaxFanIn)
		}
		path[s] = true
		defer delete(path, s)
		for _, c := range inPlace(s) {
			if err := add(c, n, path); err != nil {
				return err
			}
		}
		return nil
	}
	for _, s := range sortedSchemas(set) {
		if err := add(s, set[s], map[*jsonschema.Schema]bool{}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func inPlace(s *jsonschema.Schema) []*jsonschema.Schema {
	var cs []*jsonschema.Schema
	cs = append(cs, s.Ref, s.RecursiveRef, s.Not, s.If, s.Then, s.Else)
	if s.DynamicRef != nil {
		cs = append(cs, s.DynamicRef.Ref)
	}
	cs = append(cs, s.AllOf...)
	cs = append(cs, s.AnyOf...)
	cs = append(cs, s.OneOf...)
	for _, k := range slices.Sorted(maps.Keys(s.DependentSchemas)) {
		cs = append(cs, s.DependentSchemas[k])
	}
	for _, k := range slices.Sorted(maps.Keys(s.Dependencies)) {
		if d, ok := s.Dependencies[k].(*jsonschema.Schema); ok {
			cs = append(cs, d)
		}
	}
	return cs
}

// children returns the sets of schemas applied at each child place of a
// value the schemas of set apply to.
func children(set map[*jsonschema.Schema]int) []map[*jsonschema.Schema]int {
	names := map[string]bool{}
	items := 0
	for s := range set {
		for k := range s.Properties {
			names[k] = true
		}
		if n, ok := s.Items.([]*jsonschema.Schema); ok {
			items = max(items, len(n))
		}
		items = max(items, len(s.PrefixItems))
	}
	var out []map[*jsonschema.Schema]int
	addTo := func(m map[*jsonschema.Schema]int, s *jsonschema.Schema, n int) {
		if s != nil {
			m[s] += n
		}
	}
	schemaOf := func(v any) *jsonschema.Schema {
		s, _ := v.(*jsonschema.Schema)
		return s
	}
	// Property values: one place per name the schemas name, one for any
	// other name. Every pattern is taken to match.
	for _, name := range append(slices.Sorted(maps.Keys(names)), "") {
		m := map[*jsonschema.Schema]int{}
		for s, n := range set {
			if p, ok := s.Properties[name]; ok && name != "" {
				addTo(m, p, n)
			} else {
				addTo(m, schemaOf(s.AdditionalProperties), n)
			}
			for _, p := range s.PatternProperties {
				addTo(m, p, n)
			}
			addTo(m, s.UnevaluatedProperties, n)
		}
		out = append(out, m)
	}
	// Property names.
	m := map[*jsonschema.Schema]int{}
	for s, n := range set {
		addTo(m, s.PropertyNames, n)
	}
	out = append(out, m)
	// Items: one place per prefix index, one for the rest.
	for i := 0; i <= items; i++ {
		m := map[*jsonschema.Schema]int{}
		for s, n := range set {
			switch it := s.Items.(type) {
			case *jsonschema.Schema:
				addTo(m, it, n)
			case []*jsonschema.Schema:
				if i < len(it) {
					addTo(m, it[i], n)
				} else {
					addTo(m, schemaOf(s.AdditionalItems), n)
				}
			}
			if i < len(s.PrefixItems) {
				addTo(m, s.PrefixItems[i], n)
			} else {
				addTo(m, s.Items2020, n)
			}
			addTo(m, s.Contains, n)
			addTo(m, s.UnevaluatedItems, n)
		}
		out = append(out, m)
	}
	return out
}

func sortedSchemas(set map[*jsonschema.Schema]int) []*jsonschema.Schema {
	ss := slices.Collect(maps.Keys(set))
	slices.SortFunc(ss, func(a, b *jsonschema.Schema) int { return strings.Compare(a.Location, b.Location) })
	return ss
}

func setKey(set map[*jsonschema.Schema]int) string {
	var b strings.Builder
	for _, s := range sortedSchemas(set) {
		b.WriteString(s.Location)
		b.WriteByte(' ')
		b.WriteString(strconv.Itoa(set[s]))
		b.WriteByte('\n')
	}
	return b.String()
}
