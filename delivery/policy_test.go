package delivery

import (
	"errors"
	"testing"
)

func TestClassify(t *testing.T) {
	transport := errors.New("boom")
	tests := []struct {
		name string
		r    Result
		want Verdict
	}{
		{"200", Result{StatusCode: 200}, Succeeded},
		{"201", Result{StatusCode: 201}, Succeeded},
		{"202", Result{StatusCode: 202}, Succeeded},
		{"204", Result{StatusCode: 204}, Succeeded},
		{"299", Result{StatusCode: 299}, Succeeded},
		{"410 gone", Result{StatusCode: 410}, Gone},
		{"100", Result{StatusCode: 100}, Retry},
		{"101", Result{StatusCode: 101}, Retry},
		{"301", Result{StatusCode: 301}, Retry},
		{"302", Result{StatusCode: 302}, Retry},
		{"304", Result{StatusCode: 304}, Retry},
		{"307", Result{StatusCode: 307}, Retry},
		{"308", Result{StatusCode: 308}, Retry},
		{"400", Result{StatusCode: 400}, Retry},
		{"401", Result{StatusCode: 401}, Retry},
		{"403", Result{StatusCode: 403}, Retry},
		{"404", Result{StatusCode: 404}, Retry},
		{"408", Result{StatusCode: 408}, Retry},
		{"409", Result{StatusCode: 409}, Retry},
		{"413", Result{StatusCode: 413}, Retry},
		{"422", Result{StatusCode: 422}, Retry},
		{"425", Result{StatusCode: 425}, Retry},
		{"429", Result{StatusCode: 429, RetryAfter: 60}, Retry},
		{"500", Result{StatusCode: 500}, Retry},
		{"502", Result{StatusCode: 502}, Retry},
		{"503", Result{StatusCode: 503}, Retry},
		{"504", Result{StatusCode: 504}, Retry},
		{"599", Result{StatusCode: 599}, Retry},
		{"timeout", Result{Err: transport, ErrClass: ErrClassTimeout}, Retry},
		{"connection", Result{Err: transport, ErrClass: ErrClassConnection}, Retry},
		{"forbidden target", Result{Err: transport, ErrClass: ErrClassForbidden}, Retry},
		{"tls", Result{Err: transport, ErrClass: ErrClassTLS}, Retry},
		{"other", Result{Err: transport, ErrClass: ErrClassOther}, Retry},
		{"zero result", Result{}, Retry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(tt.r); got != tt.want {
				t.Fatalf("Classify(%+v) = %v, want %v", tt.r, got, tt.want)
			}
		})
	}
}

func TestVerdictString(t *testing.T) {
	tests := []struct {
		v    Verdict
		want string
	}{
		{Succeeded, "succeeded"},
		{Retry, "retry"},
		{Gone, "gone"},
		{0, "Verdict(0)"},
	}
	for _, tt := range tests {
		if got := tt.v.String(); got != tt.want {
			t.Errorf("Verdict(%d).String() = %q, want %q", int(tt.v), got, tt.want)
		}
	}
}

func TestStatusClass(t *testing.T) {
	tests := []struct {
		r    Result
		want string
	}{
		{Result{StatusCode: 101}, "1xx"},
		{Result{StatusCode: 200}, "2xx"},
		{Result{StatusCode: 204}, "2xx"},
		{Result{StatusCode: 302}, "3xx"},
		{Result{StatusCode: 404}, "4xx"},
		{Result{StatusCode: 410}, "4xx"},
		{Result{StatusCode: 429}, "4xx"},
		{Result{StatusCode: 503}, "5xx"},
		{Result{StatusCode: 600}, "other"},
		{Result{StatusCode: 99}, "other"},
		{Result{ErrClass: ErrClassTimeout}, "timeout"},
		{Result{ErrClass: ErrClassConnection}, "connection"},
		{Result{ErrClass: ErrClassForbidden}, "forbidden_target"},
		{Result{ErrClass: ErrClassTLS}, "tls"},
		{Result{ErrClass: ErrClassOther}, "other"},
		{Result{}, "other"},
	}
	for _, tt := range tests {
		if got := StatusClass(tt.r); got != tt.want {
			t.Errorf("StatusClass(%d, %q) = %q, want %q", tt.r.StatusCode, tt.r.ErrClass, got, tt.want)
		}
	}
}
