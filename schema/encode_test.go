package schema

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// awkwardData holds what encoding/json would rewrite: spacing, newlines,
// characters it HTML-escapes, unicode escapes and key order.
var awkwardData = []string{
	`{ "b" : 1,  "a" : [ 1 , 2 ] }`,
	"{\n\t\"html\": \"<a href='x'>&amp;</a>\"\n}",
	`{"esc":"\u00e9\u2028\ud83d\ude00","raw":"é😀"}`,
	`"just a string"`,
	`12.50e+0`,
	`[ ]`,
}

func TestEncodeEventKeepsDataVerbatim(t *testing.T) {
	at := time.Date(2024, 1, 2, 3, 4, 5, 6000, time.UTC)
	for _, data := range awkwardData {
		t.Run(data, func(t *testing.T) {
			ev := Event{ID: "evt_1", Tenant: "acme", Type: "invoice.paid", Data: json.RawMessage(data), CreatedAt: at}
			b := EncodeEvent(ev)
			if !json.Valid(b) {
				t.Fatalf("EncodeEvent produced invalid JSON: %s", b)
			}
			if !bytes.Contains(b, []byte(data)) {
				t.Errorf("EncodeEvent = %s, does not contain the data verbatim %q", b, data)
			}
			got, err := DecodeEvent(b)
			if err != nil {
				t.Fatalf("DecodeEvent(EncodeEvent): %v", err)
			}
			assertEvent(t, got, ev)
		})
	}
}

func TestEncodeEventFields(t *testing.T) {
	ev := Event{ID: "evt_1", Tenant: "acme", Type: "a.b", Data: json.RawMessage(`{}`),
		CreatedAt: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(EncodeEvent(ev), &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"id": `"evt_1"`, "tenant": `"acme"`, "type": `"a.b"`, "data": `{}`, "created_at": `"2024-01-02T03:04:05Z"`,
	}
	if len(m) != len(want) {
		t.Errorf("encoded fields = %v, want %v", m, want)
	}
	for k, v := range want {
		if string(m[k]) != v {
			t.Errorf("%s = %s, want %s", k, m[k], v)
		}
	}
}

func TestEncodeTaskRoundTrip(t *testing.T) {
	for _, data := range awkwardData {
		t.Run(data, func(t *testing.T) {
			ev := Event{ID: "evt_1", Tenant: "acme", Type: "invoice.paid", Data: json.RawMessage(data),
				CreatedAt: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)}
			task := NewTask(ev, "ep_1")
			task.Attempt, task.Tier = 3, 2
			b := EncodeTask(task)
			if !bytes.Contains(b, []byte(data)) {
				t.Errorf("EncodeTask = %s, does not contain the data verbatim %q", b, data)
			}
			got, err := DecodeTask(b)
			if err != nil {
				t.Fatalf("DecodeTask(EncodeTask): %v", err)
			}
			if got.V != Version || got.DeliveryID != DeliveryID("acme", "evt_1", "ep_1") ||
				got.EndpointID != "ep_1" || got.Attempt != 3 || got.Tier != 2 {
				t.Errorf("task = %+v, want v %d, delivery %s, endpoint ep_1, attempt 3, tier 2",
					got, Version, task.DeliveryID)
			}
			assertEvent(t, got.Event, ev)
		})
	}
}

func TestNewTask(t *testing.T) {
	ev := Event{ID: "evt_1", Tenant: "acme", Type: "a", Data: json.RawMessage(`{}`)}
	task := NewTask(ev, "ep_1")
	if task.V != Version || task.Attempt != 1 || task.Tier != 0 || task.EndpointID != "ep_1" ||
		task.DeliveryID != DeliveryID("acme", "evt_1", "ep_1") {
		t.Errorf("NewTask = %+v", task)
	}
}

func TestDecodeTaskRejects(t *testing.T) {
	const ev = `"event":{"id":"evt_1","tenant":"acme","type":"a","data":{}}`
	tests := []struct{ name, in string }{
		{"not JSON", `{"v":1,`},
		{"empty", ``},
		{"version 0", `{"v":0,"delivery_id":"msg_1","endpoint_id":"ep_1","attempt":1,` + ev + `}`},
		{"no version", `{"delivery_id":"msg_1","endpoint_id":"ep_1","attempt":1,` + ev + `}`},
		{"future version", `{"v":2,"delivery_id":"msg_1","endpoint_id":"ep_1","attempt":1,` + ev + `}`},
		{"missing delivery id", `{"v":1,"endpoint_id":"ep_1","attempt":1,` + ev + `}`},
		{"missing endpoint id", `{"v":1,"delivery_id":"msg_1","attempt":1,` + ev + `}`},
		{"missing event id", `{"v":1,"delivery_id":"msg_1","endpoint_id":"ep_1","attempt":1,"event":{"tenant":"acme","type":"a","data":{}}}`},
		{"missing event", `{"v":1,"delivery_id":"msg_1","endpoint_id":"ep_1","attempt":1}`},
		{"attempt 0", `{"v":1,"delivery_id":"msg_1","endpoint_id":"ep_1","attempt":0,` + ev + `}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := DecodeTask([]byte(tt.in)); err == nil {
				t.Errorf("DecodeTask(%s) = nil error, want an error", tt.in)
			}
		})
	}
}

func TestDecodeAttempt(t *testing.T) {
	next := time.Date(2024, 1, 2, 3, 5, 0, 0, time.UTC)
	want := Attempt{
		V: Version, DeliveryID: "msg_1", EndpointID: "ep_1", Tenant: "acme", EventID: "evt_1",
		EventType: "a.b", EventCreatedAt: time.Date(2024, 1, 2, 3, 0, 0, 0, time.UTC), Attempt: 2,
		Outcome: OutcomeRetrying, StatusCode: 503, Error: "HTTP 503", LatencyMicros: 1234,
		ResponseBody: "<busy> & \u2028 \"é\"", Truncated: true, Sent: true, At: time.Date(2024, 1, 2, 3, 4, 0, 0, time.UTC),
		NextAttemptAt: &next,
	}
	b, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	// EncodeAttempt writes what encoding/json writes, byte for byte.
	if enc := EncodeAttempt(want); !bytes.Equal(enc, b) {
		t.Errorf("EncodeAttempt = %s\nencoding/json = %s", enc, b)
	}
	got, err := DecodeAttempt(b)
	if err != nil {
		t.Fatalf("DecodeAttempt: %v", err)
	}
	if got.NextAttemptAt == nil || !got.NextAttemptAt.Equal(next) {
		t.Errorf("next_attempt_at = %v, want %v", got.NextAttemptAt, next)
	}
	got.NextAttemptAt = want.NextAttemptAt
	if got != want {
		t.Errorf("DecodeAttempt = %+v, want %+v", got, want)
	}

	bad := []struct{ name, in string }{
		{"not JSON", `{`},
		{"version 0", `{"v":0,"delivery_id":"msg_1","endpoint_id":"ep_1","attempt":1}`},
		{"future version", `{"v":2,"delivery_id":"msg_1","endpoint_id":"ep_1","attempt":1}`},
		{"missing delivery id", `{"v":1,"endpoint_id":"ep_1","attempt":1}`},
		{"missing endpoint id", `{"v":1,"delivery_id":"msg_1","attempt":1}`},
		{"negative attempt", `{"v":1,"delivery_id":"msg_1","endpoint_id":"ep_1","attempt":-1}`},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := DecodeAttempt([]byte(tt.in)); err == nil {
				t.Errorf("DecodeAttempt(%s) = nil error, want an error", tt.in)
			}
		})
	}
}

// BenchmarkDecodeTask compares DecodeTask with encoding/json's Unmarshal of
// the same task, which it replaced.
func BenchmarkDecodeTask(b *testing.B) {
	ev := Event{ID: "evt_0123456789abcdefghjkmnpqrs", Tenant: "default", Type: "bench.e42",
		Data:      json.RawMessage(`{"seq":12345,"sent_ns":1795955555123456789,"pad":"` + strings.Repeat("x", 200) + `"}`),
		CreatedAt: time.Date(2026, 11, 29, 12, 37, 39, 123456789, time.UTC)}
	task := EncodeTask(NewTask(ev, "ep_m6ppx9g3p640awcsvazwgybtag"))
	b.Run("DecodeTask", func(b *testing.B) {
		for b.Loop() {
			if _, err := DecodeTask(task); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			var t Task
			if err := json.Unmarshal(task, &t); err != nil {
				b.Fatal(err)
			}
		}
	})
}
