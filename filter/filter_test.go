package filter

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func event() Event {
	return Event{
		ID: "evt_1", Tenant: "acme", Type: "invoice.paid", Time: time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC),
		Data:       []byte(`{"amount":4200,"currency":"EUR","customer":{"tier":"gold"},"items":[{"sku":"a"},{"sku":"b"}]}`),
		Headers:    func() map[string]string { return map[string]string{"region": "eu", "bad": "\xff"} },
		Attributes: func() map[string]string { return map[string]string{"source": "/billing", "subject": "in_1"} },
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		src     string
		want    bool
		wantErr bool
	}{
		{`type == "invoice.paid"`, true, false},
		{`type.startsWith("user.")`, false, false},
		{`data.amount > 1000`, true, false},
		{`data.amount == 4200`, true, false}, // a JSON number is a double; int literals compare
		{`data.amount >= 5000.5`, false, false},
		{`data.customer.tier in ["gold", "platinum"]`, true, false},
		{`data.items.exists(i, i.sku == "b")`, true, false},
		{`size(data.items) == 2`, true, false},
		{`headers["region"] == "eu"`, true, false},
		{`!("region" in headers) || headers.region != "us"`, true, false},
		{`attributes.source == "/billing"`, true, false},
		{`tenant == "acme" && id == "evt_1"`, true, false},
		{`time > timestamp("2026-01-01T00:00:00Z")`, true, false},
		{`data.currency.startsWith("EU") && data.currency.endsWith("R")`, true, false},
		{`has(data.refund) && data.refund`, false, false},
		{`data.refund`, false, true},                // no such key: an error, so it does not pass
		{`data.currency > 3`, false, true},          // no such overload at run time
		{`headers["bad"] == "\uFFFD"`, true, false}, // invalid UTF-8 replaced
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			f, err := Compile(tt.src)
			if err != nil {
				t.Fatal(err)
			}
			got, err := f.Match(NewInput(event()))
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Fatalf("Match = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name, src    string
		line, column int // 0: no position expected
		reason       string
	}{
		{"syntax", `type == "a" &&`, 1, 15, ""},
		{"second line", "type == \"a\" &&\n  data.x ==", 2, 12, ""},
		{"unknown variable", `event.type == "a"`, 1, 1, "undeclared reference"},
		{"not a bool", `size(data)`, 1, 1, "boolean"},
		{"wrong type", `type == 1`, 1, 6, "no matching overload"},
		{"matches", `type == "a" ||` + "\n" + `  data.s.matches("(a|aa)*b")`, 2, 17, "matches() is not allowed"},
		{"matches as a function", `matches(type, "a")`, 1, 8, "matches() is not allowed"},
		{"empty", `  `, 0, 0, "empty"},
		{"too long", strings.Repeat(`type == "a" || `, 300) + "true", 0, 0, "bytes"},
		{"too deep", strings.Repeat("(", 100) + "true" + strings.Repeat(")", 100), 0, 0, ""},
		{"NUL", "type == \"\x00\"", 0, 0, "NUL"},
		{"invalid UTF-8", "type == \"\xff\"", 0, 0, "UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.src)
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("Compile = %v, want an *Error", err)
			}
			if tt.line != 0 && (fe.Line != tt.line || fe.Column != tt.column) {
				t.Errorf("position %d:%d, want %d:%d (%s)", fe.Line, fe.Column, tt.line, tt.column, fe.Reason)
			}
			if !strings.Contains(fe.Reason, tt.reason) {
				t.Errorf("reason %q, want it to say %q", fe.Reason, tt.reason)
			}
		})
	}
}

// TestHostileFiltersAreBounded runs filters written to be expensive:
// each stops at the cost or memory limit, as an error, at once.
func TestHostileFiltersAreBounded(t *testing.T) {
	big := make([]byte, 0, 1<<20)
	big = append(big, `{"items":[`...)
	for i := 0; i < 50000; i++ {
		if i > 0 {
			big = append(big, ',')
		}
		big = append(big, `"xxxxxxxxxxxxxxxx"`...)
	}
	big = append(big, `],"s":"`+strings.Repeat("a", 200000)+`"}`...)
	ev := event()
	ev.Data = big
	for _, src := range []string{
		`data.items.all(a, data.items.all(b, a == b))`,                            // quadratic
		`data.items.exists(a, data.items.exists(b, data.items.exists(c, false)))`, // cubic
		`[1,2,3,4,5,6,7,8].map(a, [1,2,3,4,5,6,7,8].map(b, [1,2,3,4,5,6,7,8].map(c, [1,2,3,4,5,6,7,8].map(d, [1,2,3,4,5,6,7,8].map(e, a+b+c+d+e))))).size() > 0`,
		`data.items.map(x, x + x + x + x + x + x + x + x).size() > 0`, // allocation
	} {
		t.Run(src, func(t *testing.T) {
			f, err := Compile(src)
			if err != nil {
				t.Fatal(err)
			}
			ok, err := f.Match(NewInput(ev))
			if ok || !errors.Is(err, ErrLimit) {
				t.Fatalf("Match = %v, %v; want false, ErrLimit", ok, err)
			}
		})
	}
}

// The data is decoded once per event, whatever the number of filters.
func TestInputDecodesDataOnce(t *testing.T) {
	in := NewInput(event())
	a, _ := Compile(`data.amount > 1`)
	b, _ := Compile(`data.currency == "EUR"`)
	for _, f := range []*Filter{a, b} {
		if ok, err := f.Match(in); !ok || err != nil {
			t.Fatalf("Match = %v, %v", ok, err)
		}
	}
	in.ev.Data = []byte(`{"amount":0}`) // not read again
	if ok, _ := a.Match(in); !ok {
		t.Fatal("data decoded a second time")
	}
	c, _ := Compile(`type == "invoice.paid"`)
	in2 := NewInput(Event{Type: "invoice.paid", Data: []byte(`not json`)})
	if ok, err := c.Match(in2); !ok || err != nil || in2.decoded {
		t.Fatalf("a filter that does not read data decoded it (%v, %v)", ok, err)
	}
}

// BenchmarkMatch is the dispatcher's cost of one event's filters: an
// input made once, then the filter of each of 1,000 endpoints (the bench's
// fanout-filtered filters: the type, and two fields of the data).
func BenchmarkMatch(b *testing.B) {
	fs := make([]*Filter, 7)
	for i := range fs {
		f, err := Compile(`type.startsWith("bench.") && data.seq >= 0 && data.pub > ` + strings.Repeat("1", i+1))
		if err != nil {
			b.Fatal(err)
		}
		fs[i] = f
	}
	data := []byte(`{"seq":12345,"pub":1764666000000000000,"pad":""}`)
	b.ReportAllocs()
	for b.Loop() {
		in := NewInput(Event{ID: "e", Tenant: "t", Type: "bench.fanout", Data: data})
		for k := range 1000 {
			if ok, err := fs[k%7].Match(in); !ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	}
}
