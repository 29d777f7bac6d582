package schema

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDecodeEventValid(t *testing.T) {
	at := time.Date(2024, 5, 6, 7, 8, 9, 123000000, time.UTC)
	tests := []struct {
		name string
		in   string
		want Event
	}{
		{
			name: "full envelope",
			in:   `{"id":"evt_1","tenant":"acme","type":"invoice.paid","data":{"n":1},"created_at":"2024-05-06T07:08:09.123Z"}`,
			want: Event{ID: "evt_1", Tenant: "acme", Type: "invoice.paid", Data: []byte(`{"n":1}`), CreatedAt: at},
		},
		{
			name: "missing id is left empty",
			in:   `{"tenant":"acme","type":"invoice.paid","data":{"n":1},"created_at":"2024-05-06T07:08:09.123Z"}`,
			want: Event{Tenant: "acme", Type: "invoice.paid", Data: []byte(`{"n":1}`), CreatedAt: at},
		},
		{
			name: "missing created_at stays zero",
			in:   `{"id":"evt_1","tenant":"acme","type":"invoice.paid","data":[1,2]}`,
			want: Event{ID: "evt_1", Tenant: "acme", Type: "invoice.paid", Data: []byte(`[1,2]`)},
		},
		{
			name: "unknown fields accepted",
			in:   `{"tenant":"acme","type":"a","data":"x","v":7,"extra":{"nested":true}}`,
			want: Event{Tenant: "acme", Type: "a", Data: []byte(`"x"`)},
		},
		{
			name: "limits reached but not passed",
			in: `{"id":"` + strings.Repeat("i", MaxIDLen) + `","tenant":"` + strings.Repeat("t", MaxTenantLen) +
				`","type":"` + strings.Repeat("y", MaxTypeLen) + `","data":0}`,
			want: Event{ID: strings.Repeat("i", MaxIDLen), Tenant: strings.Repeat("t", MaxTenantLen),
				Type: strings.Repeat("y", MaxTypeLen), Data: []byte(`0`)},
		},
		{
			name: "names with every allowed character",
			in:   `{"id":"unicode é ok","tenant":"a-b_c.D9","type":"A_b-9.c.d","data":{}}`,
			want: Event{ID: "unicode é ok", Tenant: "a-b_c.D9", Type: "A_b-9.c.d", Data: []byte(`{}`)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeEvent([]byte(tt.in))
			if err != nil {
				t.Fatalf("DecodeEvent: %v", err)
			}
			assertEvent(t, got, tt.want)
		})
	}
}

func assertEvent(t *testing.T, got, want Event) {
	t.Helper()
	if got.ID != want.ID || got.Tenant != want.Tenant || got.Type != want.Type {
		t.Errorf("event = {id %q tenant %q type %q}, want {id %q tenant %q type %q}",
			got.ID, got.Tenant, got.Type, want.ID, want.Tenant, want.Type)
	}
	if string(got.Data) != string(want.Data) {
		t.Errorf("data = %q, want %q", got.Data, want.Data)
	}
	if !got.CreatedAt.Equal(want.CreatedAt) {
		t.Errorf("created_at = %v, want %v", got.CreatedAt, want.CreatedAt)
	}
}

func TestDecodeEventInvalid(t *testing.T) {
	const ok = `"tenant":"acme","type":"invoice.paid","data":{}`
	tests := []struct {
		name  string
		in    string
		field string
	}{
		{"empty", ``, "value"},
		{"blank", " \n\t", "value"},
		{"not JSON", `{"tenant":`, "value"},
		{"garbage", `hello`, "value"},
		{"array", `[{"tenant":"acme","type":"a","data":{}}]`, "value"},
		{"string", `"event"`, "value"},
		{"tenant not a string", `{"tenant":1,"type":"a","data":{}}`, "tenant"},
		{"type not a string", `{"tenant":"acme","type":["a"],"data":{}}`, "type"},
		{"id not a string", `{"id":5,` + ok + `}`, "id"},
		{"created_at not a string", `{` + ok + `,"created_at":5}`, "created_at"},
		{"created_at not a time", `{` + ok + `,"created_at":"yesterday"}`, "created_at"},
		{"created_at out of range", `{` + ok + `,"created_at":"2024-13-01T00:00:00Z"}`, "created_at"},
		{"missing tenant", `{"type":"a","data":{}}`, "tenant"},
		{"empty tenant", `{"tenant":"","type":"a","data":{}}`, "tenant"},
		{"missing type", `{"tenant":"acme","data":{}}`, "type"},
		{"missing data", `{"tenant":"acme","type":"a"}`, "data"},
		{"null data", `{"tenant":"acme","type":"a","data":null}`, "data"},
		{"tenant with space", `{"tenant":"ac me","type":"a","data":{}}`, "tenant"},
		{"tenant with slash", `{"tenant":"ac/me","type":"a","data":{}}`, "tenant"},
		{"tenant with unicode", `{"tenant":"acmé","type":"a","data":{}}`, "tenant"},
		{"tenant too long", `{"tenant":"` + strings.Repeat("t", MaxTenantLen+1) + `","type":"a","data":{}}`, "tenant"},
		{"type with empty segment", `{"tenant":"acme","type":"a..b","data":{}}`, "type"},
		{"type with leading dot", `{"tenant":"acme","type":".a","data":{}}`, "type"},
		{"type with trailing dot", `{"tenant":"acme","type":"a.","data":{}}`, "type"},
		{"type with space", `{"tenant":"acme","type":"invoice paid","data":{}}`, "type"},
		{"type with star", `{"tenant":"acme","type":"invoice.*","data":{}}`, "type"},
		{"type too long", `{"tenant":"acme","type":"` + strings.Repeat("y", MaxTypeLen+1) + `","data":{}}`, "type"},
		{"id with control character", `{"id":"a\u0001b",` + ok + `}`, "id"},
		{"id with newline", `{"id":"a\nb",` + ok + `}`, "id"},
		{"id with DEL", `{"id":"a\u007fb",` + ok + `}`, "id"},
		{"id too long", `{"id":"` + strings.Repeat("i", MaxIDLen+1) + `",` + ok + `}`, "id"},
		{"endpoint id with space", `{"endpoint_id":"ep 1",` + ok + `}`, "endpoint_id"},
		{"endpoint id with NUL", `{"endpoint_id":"ep\u0000",` + ok + `}`, "endpoint_id"},
		{"endpoint id not a string", `{"endpoint_id":7,` + ok + `}`, "endpoint_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeEvent([]byte(tt.in))
			assertFieldError(t, err, tt.field)
		})
	}
}

func assertFieldError(t *testing.T, err error, field string) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want an error on %q", field)
	}
	if !errors.Is(err, ErrInvalidEvent) {
		t.Errorf("errors.Is(%v, ErrInvalidEvent) = false", err)
	}
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("err = %v (%T), want a *FieldError", err, err)
	}
	if fe.Field != field {
		t.Errorf("field = %q (%v), want %q", fe.Field, err, field)
	}
	if fe.Reason == "" {
		t.Errorf("field error on %q has no reason", fe.Field)
	}
}

func TestValidate(t *testing.T) {
	valid := func() Event {
		return Event{ID: "evt_1", Tenant: "acme", Type: "invoice.paid", Data: []byte(`{}`)}
	}
	tests := []struct {
		name   string
		change func(*Event)
		field  string // "" when valid
	}{
		{"valid", func(*Event) {}, ""},
		{"empty id allowed", func(e *Event) { e.ID = "" }, ""},
		{"zero created_at allowed", func(e *Event) { e.CreatedAt = time.Time{} }, ""},
		{"id invalid UTF-8", func(e *Event) { e.ID = "a\xffb" }, "id"},
		{"id with tab", func(e *Event) { e.ID = "a\tb" }, "id"},
		{"empty tenant", func(e *Event) { e.Tenant = "" }, "tenant"},
		{"empty type", func(e *Event) { e.Type = "" }, "type"},
		{"nil data", func(e *Event) { e.Data = nil }, "data"},
		{"blank data", func(e *Event) { e.Data = []byte("  ") }, "data"},
		{"null data with spaces", func(e *Event) { e.Data = []byte(" null ") }, "data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := valid()
			tt.change(&ev)
			err := ev.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			assertFieldError(t, err, tt.field)
		})
	}
}

func TestDeliveryIDDeterministicAndDistinct(t *testing.T) {
	a := DeliveryID("acme", "evt_1", "ep_1")
	if b := DeliveryID("acme", "evt_1", "ep_1"); a != b {
		t.Fatalf("DeliveryID not deterministic: %q then %q", a, b)
	}
	if !strings.HasPrefix(a, "msg_") || len(a) != len("msg_")+26 {
		t.Errorf("DeliveryID = %q, want msg_ and 26 characters", a)
	}
	inputs := [][3]string{
		{"acme", "evt_1", "ep_1"},
		{"acme", "evt_1", "ep_2"},
		{"acme", "evt_2", "ep_1"},
		{"other", "evt_1", "ep_1"},
		{"t", "a", "bc"}, // concatenations collide, ids must not
		{"t", "ab", "c"},
		{"ta", "b", "c"},
		{"", "tab", "c"},
	}
	seen := map[string][3]string{}
	for _, in := range inputs {
		id := DeliveryID(in[0], in[1], in[2])
		if prev, dup := seen[id]; dup {
			t.Errorf("DeliveryID%q = DeliveryID%q = %q", in, prev, id)
		}
		seen[id] = in
	}
}

func TestDerivedEventIDDeterministicAndDistinct(t *testing.T) {
	a := DerivedEventID("hookstream.events", 3, 42)
	if b := DerivedEventID("hookstream.events", 3, 42); a != b {
		t.Fatalf("DerivedEventID not deterministic: %q then %q", a, b)
	}
	if !strings.HasPrefix(a, "evt_") {
		t.Errorf("DerivedEventID = %q, want prefix evt_", a)
	}
	type pos struct {
		topic     string
		partition int32
		offset    int64
	}
	inputs := []pos{
		{"hookstream.events", 3, 42},
		{"hookstream.events", 3, 43},
		{"hookstream.events", 4, 42},
		{"other.events", 3, 42},
		{"t", 1, 23}, // concatenations collide, ids must not
		{"t", 12, 3},
		{"t1", 2, 3},
	}
	seen := map[string]pos{}
	for _, in := range inputs {
		id := DerivedEventID(in.topic, in.partition, in.offset)
		if prev, dup := seen[id]; dup {
			t.Errorf("DerivedEventID%v = DerivedEventID%v = %q", in, prev, id)
		}
		seen[id] = in
	}
}

func TestNewIDUnique(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := NewID("evt_")
		if len(id) != len("evt_")+26 || !strings.HasPrefix(id, "evt_") {
			t.Fatalf("NewID = %q, want evt_ and 26 characters", id)
		}
		if seen[id] {
			t.Fatalf("NewID repeated %q", id)
		}
		seen[id] = true
	}
}
