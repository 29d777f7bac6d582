package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"reflect"
	"strconv"
	"strings"
)

var rawMessageType = reflect.TypeFor[json.RawMessage]()

// strictJSON checks a body that encoding/json decoded into a value of type
// t without error for what encoding/json lets through and the document
// does not: a null in place of a value (encoding/json leaves the field as
// it was), a key that names a field only if case is ignored (encoding/json
// ignores it), and a string holding a NUL character, which Postgres cannot
// store. json.RawMessage values (event data) are passed over: any JSON is
// fine there.
func strictJSON(body []byte, t reflect.Type) *Problem {
	dec := json.NewDecoder(bytes.NewReader(body))
	p, err := walkJSON(dec, t, "")
	if err != nil {
		return problem(http.StatusBadRequest, "body is not valid JSON")
	}
	return p
}

// walkJSON reads one value from dec, whose destination has type t; field is
// the top-level field it belongs to ("" for the body itself).
func walkJSON(dec *json.Decoder, t reflect.Type, field string) (*Problem, error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == rawMessageType {
		var skip json.RawMessage
		return nil, dec.Decode(&skip)
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch tok := tok.(type) {
	case nil:
		return nullProblem(field), nil
	case string:
		if strings.ContainsRune(tok, 0) {
			return nulProblem(field), nil
		}
		return nil, nil
	case json.Delim:
		if tok == '[' {
			elem := t
			if k := t.Kind(); k == reflect.Slice || k == reflect.Array {
				elem = t.Elem()
			}
			for dec.More() {
				if p, err := walkJSON(dec, elem, field); p != nil || err != nil {
					return p, err
				}
			}
			_, err := dec.Token()
			return nil, err
		}
		for dec.More() {
			key, err := dec.Token()
			if err != nil {
				return nil, err
			}
			name, _ := key.(string)
			var elem reflect.Type
			switch {
			case t.Kind() == reflect.Map:
				if strings.ContainsRune(name, 0) {
					return nulProblem(field), nil
				}
				elem = t.Elem()
			case t.Kind() == reflect.Struct:
				f, ok := jsonField(t, name)
				if !ok {
					p := problem(http.StatusBadRequest, "unknown field "+strconv.Quote(name))
					p.Field = name
					return p, nil
				}
				elem = f.Type
			default:
				elem = t
			}
			sub := field
			if sub == "" {
				sub = name
			}
			if p, err := walkJSON(dec, elem, sub); p != nil || err != nil {
				return p, err
			}
		}
		_, err := dec.Token()
		return nil, err
	}
	return nil, nil
}

// jsonField finds the field of struct t whose JSON name is exactly name.
func jsonField(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "" {
			tag = f.Name
		}
		if f.IsExported() && tag == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func nullProblem(field string) *Problem {
	if field == "" {
		return problem(http.StatusBadRequest, "body must be a JSON object")
	}
	p := problem(http.StatusBadRequest, field+": must not be null (leave the field out instead)")
	p.Field = field
	return p
}

func nulProblem(field string) *Problem {
	return fieldProblem(field, "must not contain the NUL character (\\u0000)")
}
