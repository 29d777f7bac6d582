package api

import (
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The checks of this file hold every query and path parameter to what the
// OpenAPI document says of it, so that nothing the document refuses
// reaches a handler, and nothing Postgres cannot store (a NUL, invalid
// UTF-8) reaches Postgres.

// cleanText reports whether s is valid UTF-8 without NUL: text Postgres
// can store and compare.
func cleanText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// checkInput refuses a request whose query string does not parse, or one
// of whose query or path parameters (names or values) is not clean text.
// It runs once the caller is authenticated, inside the route (r.Pattern).
func checkInput(r *http.Request) *Problem {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return problem(http.StatusBadRequest, "the query string is malformed: "+strings.TrimPrefix(err.Error(), "invalid URL escape "))
	}
	names := make([]string, 0, len(q))
	for name := range q {
		names = append(names, name)
	}
	slices.Sort(names) // the same answer for the same request
	for _, name := range names {
		if !cleanText(name) {
			return problem(http.StatusBadRequest, "a query parameter name is not valid UTF-8 or holds a NUL byte")
		}
		for _, v := range q[name] {
			if !cleanText(v) {
				return queryProblem(name, "must be valid UTF-8 without NUL bytes")
			}
		}
	}
	for _, name := range wildcards(r.Pattern) {
		if !cleanText(r.PathValue(name)) {
			p := problem(http.StatusBadRequest, name+": must be valid UTF-8 without NUL bytes")
			p.Field = name
			return p
		}
	}
	return nil
}

// wildcards returns the names of a ServeMux pattern's wildcards.
func wildcards(pattern string) []string {
	var out []string
	for seg := range strings.SplitSeq(pattern, "/") {
		if name, ok := strings.CutPrefix(seg, "{"); ok {
			name = strings.TrimSuffix(strings.TrimSuffix(name, "}"), "...")
			if name != "$" {
				out = append(out, name)
			}
		}
	}
	return out
}

// headerProblem is a 400 naming a request header.
func headerProblem(name, detail string) *Problem {
	p := problem(http.StatusBadRequest, name+": "+detail)
	p.Field = name
	return p
}

// validID reports whether id is prefix and 1 to 64 lower-case letters and
// digits: the shape of the ids the API makes (schema.NewID adds 26).
func validID(prefix, id string) bool {
	rest, ok := strings.CutPrefix(id, prefix)
	if !ok || rest == "" || len(rest) > 64 {
		return false
	}
	return strings.Trim(rest, "0123456789abcdefghijklmnopqrstuvwxyz") == ""
}

// maxEventIDChars bounds an event id in a query: schema.MaxIDLen, which
// counts bytes, in characters (the document's maxLength counts those).
const maxEventIDChars = 255

// validEventIDParam reports whether s can be an event id in a query: 1 to
// 255 characters, none of them a control character.
func validEventIDParam(s string) bool {
	return s != "" && plainText(s, maxEventIDChars)
}

// plainText reports whether s is valid UTF-8 of at most max characters,
// none of them a control character (C0 or DEL).
func plainText(s string, max int) bool {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// idCursor reads the cursor of a listing ordered by id: absent or empty for
// the first page, else an id valid by the rule of the listing.
func idCursor(q url.Values, valid func(string) bool) (string, *Problem) {
	c := q.Get("cursor")
	if c != "" && !valid(c) {
		return "", queryProblem("cursor", "not a cursor this API returned")
	}
	return c, nil
}

// parseDateTime parses an RFC 3339 date-time (section 5.6) exactly as the
// grammar and the JSON Schema "date-time" format have it: 'T' and 'Z' in
// either case, a fraction of any length after '.', an offset within ±23:59,
// and a leap second (:60) only at 23:59 UTC. time.Parse differs at each of
// these. A leap second is the instant after :59.
func parseDateTime(s string) (time.Time, bool) {
	// 2006-01-02T15:04:05[.frac](Z|±hh:mm)
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' && s[10] != 't' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	num := func(from, to int) int {
		n := 0
		for i := from; i < to; i++ {
			if s[i] < '0' || s[i] > '9' {
				return -1
			}
			n = n*10 + int(s[i]-'0')
		}
		return n
	}
	year, month, day := num(0, 4), num(5, 7), num(8, 10)
	hour, minute, sec := num(11, 13), num(14, 16), num(17, 19)
	if year < 0 || month < 1 || month > 12 || day < 1 || day > daysIn(year, month) ||
		hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 60 {
		return time.Time{}, false
	}
	rest, nanos := s[19:], 0
	if rest[0] == '.' {
		end := 1
		for end < len(rest) && rest[end] >= '0' && rest[end] <= '9' {
			end++
		}
		if end == 1 {
			return time.Time{}, false
		}
		frac := rest[1:end]
		for i := range 9 {
			nanos *= 10
			if i < len(frac) {
				nanos += int(frac[i] - '0')
			}
		}
		rest = rest[end:]
	}
	offset := 0
	switch {
	case rest == "Z" || rest == "z":
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, om := num(len(s)-5, len(s)-3), num(len(s)-2, len(s))
		if oh < 0 || oh > 23 || om < 0 || om > 59 {
			return time.Time{}, false
		}
		offset = (oh*60 + om) * 60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nanos, time.FixedZone("", offset))
	if sec == 60 {
		if u := t.Add(-time.Second).UTC(); u.Hour() != 23 || u.Minute() != 59 {
			return time.Time{}, false
		}
	}
	return t, true
}

func daysIn(year, month int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// dateTime is a request body's date-time: RFC 3339 as parseDateTime reads
// it.
type dateTime struct{ time.Time }

var dateTimeType = reflect.TypeFor[dateTime]()

func (d *dateTime) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		if t, ok := parseDateTime(s); ok {
			d.Time = t
			return nil
		}
	}
	return &json.UnmarshalTypeError{Value: "string", Type: dateTimeType}
}

// wholeNumber is a request body's integer as JSON Schema has it: a number
// without a fraction, so 5000, 5000.0 and 5e3 alike. Numbers beyond ±2^53
// become ±2^53, past every limit the API checks.
type wholeNumber int

var wholeNumberType = reflect.TypeFor[wholeNumber]()

func (n *wholeNumber) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || f != math.Trunc(f) {
		return &json.UnmarshalTypeError{Value: "number", Type: wholeNumberType}
	}
	*n = wholeNumber(max(-1<<53, min(f, 1<<53)))
	return nil
}

// utf8Text is a request body's string whose raw bytes are checked: the
// JSON decoder would quietly replace invalid UTF-8 with U+FFFD, and a key
// that two different byte strings map to is not a key. Invalid is set
// instead of failing the decoding, so that the answer names the field.
type utf8Text struct {
	S       string
	Invalid bool
}

func (u *utf8Text) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, &u.S); err != nil {
		return &json.UnmarshalTypeError{Value: "value", Type: reflect.TypeFor[string]()}
	}
	u.Invalid = !utf8.Valid(b)
	return nil
}

// textLen is the length of s as the document's maxLength counts it: in
// characters.
func textLen(s string) int { return utf8.RuneCountInString(s) }
