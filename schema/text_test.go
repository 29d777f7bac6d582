package schema

import (
	"encoding/base64"
	"strings"
	"testing"
)

func TestCleanText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain", "plain"},
		{"a\x00b", "a\uFFFDb"},
		{"caf\xe9", "caf\uFFFD"},
		{"ok é", "ok é"},
	} {
		if got := CleanText(tc.in); got != tc.want {
			t.Errorf("CleanText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestTextOrBase64(t *testing.T) {
	for _, tc := range []struct {
		name      string
		in        []byte
		truncated bool
		want      string
		base64    bool
	}{
		{"text", []byte(`{"ok":true}`), false, `{"ok":true}`, false},
		{"NUL", []byte("a\x00b"), false, base64.StdEncoding.EncodeToString([]byte("a\x00b")), true},
		{"not UTF-8", []byte("caf\xe9"), false, base64.StdEncoding.EncodeToString([]byte("caf\xe9")), true},
		{"cut in a character", []byte("caf\xc3"), true, "caf", false},
		{"cut, then bad bytes", []byte("\xff\xc3"), true, base64.StdEncoding.EncodeToString([]byte("\xff\xc3")), true},
		{"empty", nil, false, "", false},
	} {
		got, b64 := TextOrBase64(tc.in, tc.truncated)
		if got != tc.want || b64 != tc.base64 {
			t.Errorf("%s: TextOrBase64 = %q, %v; want %q, %v", tc.name, got, b64, tc.want, tc.base64)
		}
	}
	// An attempt record written by anyone: Clean stores what Postgres can.
	a := Attempt{Error: "x\x00", ResponseBody: "y\x00"}.Clean()
	if a.Error != "x\uFFFD" || !a.ResponseBase64 || a.ResponseBody != base64.StdEncoding.EncodeToString([]byte("y\x00")) {
		t.Errorf("Clean = %+v", a)
	}
}

func TestEventDataRules(t *testing.T) {
	ev := func(data string) Event { return Event{Tenant: "t", Type: "a.b", Data: []byte(data)} }
	for _, tc := range []struct {
		data string
		ok   bool
	}{
		{`{"a":[1,{"b":"]]]]"}]}`, true},
		{strings.Repeat("[", MaxDataDepth) + strings.Repeat("]", MaxDataDepth), true},
		{strings.Repeat("[", MaxDataDepth+1) + strings.Repeat("]", MaxDataDepth+1), false},
		{`{"s":"` + strings.Repeat(`\"[`, 500) + `"}`, true}, // brackets in strings do not nest
		{"\"caf\xe9\"", false},
		{`"a\u0000b"`, true}, // valid JSON: Postgres's json keeps it
	} {
		e := ev(tc.data)
		if err := e.Validate(); (err == nil) != tc.ok {
			t.Errorf("Validate(data %.40q) = %v, want ok %v", tc.data, err, tc.ok)
		}
	}
}
