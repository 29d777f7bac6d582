package catalog

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hookstream/hookstream/schema"
)

const invoiceSchema = `{
  "type": "object",
  "required": ["invoice", "amount"],
  "properties": {
    "invoice": {"type": "string"},
    "amount": {"type": "integer", "minimum": 0},
    "lines": {"type": "array", "items": {"$ref": "#/$defs/line"}}
  },
  "$defs": {"line": {"type": "object", "required": ["sku"], "properties": {"sku": {"type": "string"}}}}
}`

func TestCheckNamesThePlaceAndReason(t *testing.T) {
	typ, err := Compile(schema.EventType{Name: "invoice.paid", Schema: []byte(invoiceSchema)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		data, pointer, reason string
	}{
		{`{"invoice":"in_1","amount":4200}`, "", ""},
		{`{"invoice":"in_1","amount":"4200"}`, "/amount", "got string, want integer"},
		{`{"invoice":"in_1"}`, "", "missing property 'amount'"},
		{`{"invoice":"in_1","amount":-1}`, "/amount", "minimum"},
		{`{"invoice":"in_1","amount":1,"lines":[{"sku":"a"},{"sku":7}]}`, "/lines/1/sku", "got number, want string"},
		{`[1]`, "", "got array, want object"},
	} {
		err := typ.Check([]byte(tc.data))
		if tc.reason == "" {
			if err != nil {
				t.Errorf("%s: %v, want it to match", tc.data, err)
			}
			continue
		}
		var se *schema.SchemaError
		if !errors.As(err, &se) {
			t.Fatalf("%s: %v, want a *schema.SchemaError", tc.data, err)
		}
		if se.Pointer != tc.pointer || !strings.Contains(se.Reason, tc.reason) || se.Type != "invoice.paid" {
			t.Errorf("%s: pointer %q reason %q, want %q and %q", tc.data, se.Pointer, se.Reason, tc.pointer, tc.reason)
		}
		if !errors.Is(err, schema.ErrInvalidEvent) {
			t.Errorf("%s: not an invalid event", tc.data)
		}
	}
}

func TestCompileChecksTheExample(t *testing.T) {
	_, err := Compile(schema.EventType{Name: "invoice.paid", Schema: []byte(invoiceSchema), Example: []byte(`{"invoice":"in_1","amount":"x"}`)})
	var fe *schema.FieldError
	if !errors.As(err, &fe) || fe.Field != "example" || !strings.Contains(fe.Reason, `"/amount"`) {
		t.Fatalf("got %v, want the example refused at /amount", err)
	}
	if _, err := Compile(schema.EventType{Name: "invoice.paid", Schema: []byte(invoiceSchema), Example: []byte(`{"invoice":"in_1","amount":3}`)}); err != nil {
		t.Fatalf("a valid example: %v", err)
	}
}

// doubling nests n anyOf levels, each naming the next twice: 2^n
// evaluations of the last on one value.
func doubling(n int) string {
	var defs []string
	for i := range n {
		defs = append(defs, fmt.Sprintf(`"d%d":{"anyOf":[{"$ref":"#/$defs/d%d"},{"$ref":"#/$defs/d%d"}]}`, i, i+1, i+1))
	}
	defs = append(defs, fmt.Sprintf(`"d%d":{"type":"string"}`, n))
	return `{"$ref":"#/$defs/d0","$defs":{` + strings.Join(defs, ",") + `}}`
}

// TestHostileSchemasRefused: every schema here would make the process
// fetch, read a file, or spend without bound on each event.
func TestHostileSchemasRefused(t *testing.T) {
	var fetched atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetched.Add(1)
		_, _ = w.Write([]byte(`{"type":"string"}`))
	}))
	defer srv.Close()
	secret := filepath.Join(t.TempDir(), "s.json")
	if err := os.WriteFile(secret, []byte(`{"type":"string"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct{ schema, reason string }{
		"remote $ref":          {`{"$ref":"` + srv.URL + `/s.json"}`, "only references within the schema"},
		"remote $schema":       {`{"$schema":"` + srv.URL + `/meta.json"}`, "only references within the schema"},
		"file $ref":            {`{"$ref":"file://` + secret + `"}`, "only references within the schema"},
		"relative $ref":        {`{"$ref":"other.json"}`, "only references within the schema"},
		"$id elsewhere":        {`{"$id":"` + srv.URL + `/a.json","$ref":"b.json"}`, "only references within the schema"},
		"huge":                 {`{"description":"` + strings.Repeat("x", schema.MaxTypeSchemaBytes) + `"}`, "at most"},
		"deep":                 {strings.Repeat(`{"not":`, 40) + `{}` + strings.Repeat(`}`, 40), "levels deep"},
		"doubling $refs":       {doubling(20), "more than"},
		"doubling down a tree": {`{"$defs":{"n":{"anyOf":[{"properties":{"c":{"$ref":"#/$defs/n"}}},{"properties":{"c":{"$ref":"#/$defs/n"}}}]}},"$ref":"#/$defs/n"}`, "more than"},
		"not a schema":         {`{"type":"strnig"}`, "not a valid JSON Schema"},
		"not JSON":             {`{"type":`, "not valid JSON"},
		"an array":             {`[]`, "must be a JSON object"},
		"bad regexp":           {`{"pattern":"("}`, "not a valid JSON Schema"},
	} {
		_, err := Compile(schema.EventType{Name: "a.b", Schema: []byte(tc.schema)})
		var fe *schema.FieldError
		if !errors.As(err, &fe) || fe.Field != "schema" || !strings.Contains(fe.Reason, tc.reason) {
			t.Errorf("%s: got %v, want the schema refused with %q", name, err, tc.reason)
		}
	}
	if n := fetched.Load(); n != 0 {
		t.Errorf("the server was asked %d times: nothing may be fetched", n)
	}
}

// TestRecursiveSchemasAccepted: schemas that follow the data down (trees,
// linked lists, a $ref loop through properties) are not refused, and a
// loop in place fails the event rather than the process.
func TestRecursiveSchemasAccepted(t *testing.T) {
	tree := `{"$ref":"#/$defs/node","$defs":{"node":{"type":"object","properties":{"l":{"$ref":"#/$defs/node"},"r":{"$ref":"#/$defs/node"},"kids":{"type":"array","items":{"$ref":"#/$defs/node"}}}}}}`
	typ, err := Compile(schema.EventType{Name: "a.b", Schema: []byte(tree)})
	if err != nil {
		t.Fatalf("a tree schema: %v", err)
	}
	if err := typ.Check([]byte(`{"l":{"r":{"kids":[{},{"l":{}}]}}}`)); err != nil {
		t.Errorf("a tree: %v", err)
	}
	if err := typ.Check([]byte(`{"l":{"r":{"kids":[{},{"l":3}]}}}`)); err == nil {
		t.Error("a bad leaf passed")
	}
	// A loop every value meets is refused; one only some values meet
	// fails those.
	_, err = Compile(schema.EventType{Name: "a.b", Schema: []byte(`{"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"}`)})
	if err == nil || !strings.Contains(err.Error(), "loops") {
		t.Errorf("a $ref loop at the root: %v, want it refused", err)
	}
	loop, err := Compile(schema.EventType{Name: "a.b", Schema: []byte(`{"properties":{"x":{"$ref":"#/$defs/a"}},"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}}}`)})
	if err != nil {
		t.Fatalf("a $ref loop under a property: %v", err)
	}
	var se *schema.SchemaError
	if err := loop.Check([]byte(`{"y":1}`)); err != nil {
		t.Errorf("a value that does not meet the loop: %v", err)
	}
	if err := loop.Check([]byte(`{"x":1}`)); !errors.As(err, &se) || se.Pointer != "/x" || strings.Contains(se.Reason, schemaURL) {
		t.Errorf("a value that meets the loop: %v, want a schema error at /x", err)
	}
}
