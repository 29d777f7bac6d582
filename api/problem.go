package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
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
// at most maxBody bytes. Its problems name what is wrong. The Content-Type
// is not checked: the body is JSON whatever curl -d says it is.
func decode(w http.ResponseWriter, r *http.Request, maxBody int64, v any) *Problem {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeProblem(err, maxBody)
	}
	switch _, err := dec.Token(); {
	case errors.Is(err, io.EOF):
		return nil
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
		p := problem(http.StatusBadRequest, fmt.Sprintf("%s: must be a JSON %s", typ.Field, schema.JSONKind(typ.Type.Kind().String())))
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
