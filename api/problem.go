package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"

	"github.com/hookstream/hookstream/schema"
)

// Problem is an RFC 9457 problem detail.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Field names the request field at fault, when there is one.
	Field string `json:"field,omitempty"`
	// Line and Column locate an error inside the field's value (a
	// filter's), counting from 1.
	Line   int `json:"line,omitempty"`
	Column int `json:"column,omitempty"`
	// Pointer is the JSON Pointer, into the event's data, of the value
	// that fails its type's schema ("" for the whole data).
	Pointer *string `json:"pointer,omitempty"`
}

func (p *Problem) Error() string { return p.Detail }

func problem(status int, detail string) *Problem {
	return &Problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail}
}

func fieldProblem(field, detail string) *Problem {
	p := problem(http.StatusUnprocessableEntity, field+": "+detail)
	p.Field = field
	return p
}

func writeProblem(w http.ResponseWriter, p *Problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// decode reads a JSON request body into v: one object, no unknown fields,
// no nulls, no NUL characters in strings, at most maxBody bytes. Its
// problems name what is wrong. The Content-Type is not checked: the body is
// JSON whatever curl -d says it is.
func decode(w http.ResponseWriter, r *http.Request, maxBody int64, v any) *Problem {
	body, p := readBody(w, r, maxBody)
	if p != nil {
		return p
	}
	return decodeBytes(body, maxBody, v)
}

// decodeOptional is decode for a body the request may leave out: an empty
// one leaves v as it is (white space alone is not JSON: 400).
func decodeOptional(w http.ResponseWriter, r *http.Request, maxBody int64, v any) *Problem {
	body, p := readBody(w, r, maxBody)
	if p != nil || len(body) == 0 {
		return p
	}
	return decodeBytes(body, maxBody, v)
}

func readBody(w http.ResponseWriter, r *http.Request, maxBody int64) ([]byte, *Problem) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, decodeProblem(err, maxBody)
	case err != nil:
		return nil, problem(http.StatusBadRequest, "the body could not be read")
	}
	return body, nil
}

func decodeBytes(body []byte, maxBody int64, v any) *Problem {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeProblem(err, maxBody)
	}
	switch _, err := dec.Token(); {
	case errors.Is(err, io.EOF):
		return strictJSON(body, reflect.TypeOf(v))
	case err != nil:
		return decodeProblem(err, maxBody)
	default:
		return problem(http.StatusBadRequest, "body must hold a single JSON object, and nothing after it")
	}
}

func decodeProblem(err error, maxBody int64) *Problem {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
		mbe *http.MaxBytesError
	)
	switch {
	case errors.As(err, &mbe):
		return problem(http.StatusRequestEntityTooLarge, fmt.Sprintf("body exceeds %d bytes", maxBody))
	case errors.Is(err, io.EOF):
		return problem(http.StatusBadRequest, "body is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return problem(http.StatusBadRequest, "body is not valid JSON: unexpected end")
	case errors.As(err, &syn):
		return problem(http.StatusBadRequest, fmt.Sprintf("body is not valid JSON at byte %d", syn.Offset))
	case errors.As(err, &typ):
		if typ.Field == "" {
			return problem(http.StatusBadRequest, "body must be a JSON object")
		}
		want := "a JSON " + schema.JSONKind(typ.Type.Kind().String())
		switch typ.Type {
		case dateTimeType:
			want = "an RFC 3339 date-time string, e.g. 2026-11-29T09:00:00Z"
		case wholeNumberType:
			want = "a whole number"
		}
		p := problem(http.StatusBadRequest, fmt.Sprintf("%s: must be %s", typ.Field, want))
		p.Field = typ.Field
		return p
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		p := problem(http.StatusBadRequest, fmt.Sprintf("unknown field %q", name))
		p.Field = name
		return p
	}
	return problem(http.StatusBadRequest, "body is not valid JSON")
}
