package schema

import (
	"errors"
	"strings"
	"testing"
)

func TestValidatePattern(t *testing.T) {
	valid := []string{"*", "invoice.paid", "invoice.*", "*.created", "a.*.c", "*.*", "hookstream.*", "A_b-9.*"}
	for _, p := range valid {
		if err := ValidatePattern(p); err != nil {
			t.Errorf("ValidatePattern(%q) = %v, want nil", p, err)
		}
	}
	invalid := []string{"", "inv*", "*x", "a..b", ".a", "a.", "a.*b", "**", "a b", "invoice.paid!", strings.Repeat("a", MaxTypeLen+1)}
	for _, p := range invalid {
		err := ValidatePattern(p)
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Errorf("ValidatePattern(%q) = %v, want a *FieldError", p, err)
			continue
		}
		if fe.Field != "event_types" {
			t.Errorf("ValidatePattern(%q) field = %q, want event_types", p, fe.Field)
		}
	}
}

func TestMatchType(t *testing.T) {
	tests := []struct {
		pattern, typ string
		want         bool
	}{
		{"invoice.*", "invoice.paid", true},
		{"invoice.*", "invoice.payment.failed", true},
		{"invoice.*", "invoice", false},
		{"invoice.*", "invoicex.paid", false},
		{"invoice.*", "x.invoice.paid", false},
		{"*.created", "user.created", true},
		{"*.created", "a.b.created", false},
		{"*.created", "created", false},
		{"*.created", "user.created.late", false},
		{"a.*.c", "a.b.c", true},
		{"a.*.c", "a.b.b.c", false},
		{"*.*", "a", false},
		{"*.*", "a.b", true},
		{"*.*", "a.b.c", true},
		{"*", "invoice.paid", true},
		{"*", "a", true},
		{"*", "hookstream.endpoint.disabled", false},
		{"*.disabled", "hookstream.disabled", false},
		{"*.endpoint.disabled", "hookstream.endpoint.disabled", false},
		{"hookstream.*", "hookstream.endpoint.disabled", true},
		{"hookstream.endpoint.disabled", "hookstream.endpoint.disabled", true},
		{"hookstream.endpoint.*", "hookstream.endpoint.disabled", true},
		{"invoice.paid", "invoice.paid", true},
		{"invoice.paid", "invoice.paid.late", false},
		{"invoice.paid", "invoice", false},
		{"invoice.paid", "Invoice.paid", false},
		{"invoice", "invoice", true},
	}
	for _, tt := range tests {
		if got := MatchType(tt.pattern, tt.typ); got != tt.want {
			t.Errorf("MatchType(%q, %q) = %v, want %v", tt.pattern, tt.typ, got, tt.want)
		}
	}
}

func TestMatchAny(t *testing.T) {
	tests := []struct {
		patterns []string
		typ      string
		want     bool
	}{
		{nil, "invoice.paid", false},
		{[]string{}, "invoice.paid", false},
		{[]string{"user.*", "invoice.paid"}, "invoice.paid", true},
		{[]string{"user.*", "invoice.paid"}, "user.created", true},
		{[]string{"user.*", "invoice.paid"}, "invoice.void", false},
		{[]string{"*"}, "hookstream.endpoint.disabled", false},
		{[]string{"*", "hookstream.*"}, "hookstream.endpoint.disabled", true},
	}
	for _, tt := range tests {
		if got := MatchAny(tt.patterns, tt.typ); got != tt.want {
			t.Errorf("MatchAny(%q, %q) = %v, want %v", tt.patterns, tt.typ, got, tt.want)
		}
	}
}

func TestExampleType(t *testing.T) {
	for _, c := range []struct {
		patterns []string
		want     string
	}{
		{[]string{"order.*", "invoice.paid"}, "invoice.paid"},
		{[]string{"order.*.v1"}, "order.test.v1"},
		{[]string{"*"}, "test.ping"},
		{[]string{"*", "user.*"}, "user.test"},
		{[]string{"hookstream.endpoint.disabled", "billing.*"}, "billing.test"},
		{[]string{"hookstream.*"}, ""},
	} {
		got := ExampleType(c.patterns)
		if got != c.want {
			t.Errorf("ExampleType(%q) = %q, want %q", c.patterns, got, c.want)
		}
		if got != "" && !MatchAny(c.patterns, got) {
			t.Errorf("ExampleType(%q) = %q, which the patterns do not match", c.patterns, got)
		}
	}
}
