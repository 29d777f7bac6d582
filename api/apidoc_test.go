package api_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var updateDoc = flag.Bool("update", false, "rewrite docs/api.md's table of operations from api/openapi.json")

const (
	apiDoc        = "../docs/api.md"
	operationsBeg = "<!-- operations: generated from api/openapi.json; `go test ./api -run TestAPIDoc -update` rewrites it -->\n"
	operationsEnd = "<!-- end of operations -->\n"
)

// docOperations is the table of every operation of the OpenAPI document,
// in its order: what docs/api.md holds between its markers.
func docOperations(t *testing.T) (table string, ops []string) {
	t.Helper()
	_, model := openapiValidator(t)
	var b strings.Builder
	b.WriteString("| operation | what it does | answers |\n|---|---|---|\n")
	for p, item := range model.Paths.PathItems.FromOldest() {
		for m, op := range item.GetOperations().FromOldest() {
			key := strings.ToUpper(m) + " " + p
			ops = append(ops, key)
			var codes []string
			for c := range op.Responses.Codes.KeysFromOldest() {
				codes = append(codes, c)
			}
			slices.Sort(codes)
			fmt.Fprintf(&b, "| `%s` | %s | %s |\n", key, strings.ReplaceAll(op.Summary, "|", `\|`), strings.Join(codes, ", "))
		}
	}
	return b.String(), ops
}

// docs/api.md cannot drift from api/openapi.json: its table of operations
// is the document's, and every route its prose names is one the document
// has.
func TestAPIDoc(t *testing.T) {
	raw, err := os.ReadFile(apiDoc)
	if err != nil {
		t.Fatal(err)
	}
	table, ops := docOperations(t)
	beg, end := bytes.Index(raw, []byte(operationsBeg)), bytes.Index(raw, []byte(operationsEnd))
	if beg < 0 || end < beg {
		t.Fatalf("%s has no table of operations between %q and %q", apiDoc, operationsBeg, operationsEnd)
	}
	current := string(raw[beg+len(operationsBeg) : end])
	if current != table {
		if *updateDoc {
			out := slices.Concat(raw[:beg+len(operationsBeg)], []byte(table), raw[end:])
			if err := os.WriteFile(apiDoc, out, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("rewrote the table of operations in %s", apiDoc)
		} else {
			t.Errorf("%s's table of operations differs from api/openapi.json; run `go test ./api -run TestAPIDoc -update`.\nwant:\n%s", apiDoc, table)
		}
	}

	// Every operation has a section of the prose too, and the prose names
	// no route the document lacks.
	named := map[string]bool{}
	prose := string(raw[:beg]) + string(raw[end:])
	for _, m := range regexp.MustCompile("`(GET|POST|PUT|PATCH|DELETE) (/[^`?\\s]*)").FindAllStringSubmatch(prose, -1) {
		named[m[1]+" "+m[2]] = true
	}
	for _, op := range ops {
		if !named[op] {
			t.Errorf("%s does not describe %s: say what it does in the prose", apiDoc, op)
		}
		delete(named, op)
	}
	for op := range named {
		t.Errorf("%s names %s, which api/openapi.json does not have", apiDoc, op)
	}
}
