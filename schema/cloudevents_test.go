package schema

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

func hdrs(kv ...string) []Header {
	var hs []Header
	for i := 0; i+1 < len(kv); i += 2 {
		hs = append(hs, Header{Key: kv[i], Value: []byte(kv[i+1])})
	}
	return hs
}

// binary returns the headers of a valid binary-mode record, with extra ones.
func binary(extra ...string) []Header {
	return hdrs(append([]string{"ce_specversion", "1.0", "ce_id", "A-1", "ce_source", "/orders", "ce_type", "com.example.order.paid"}, extra...)...)
}

func TestCloudEventModeOf(t *testing.T) {
	tests := []struct {
		name    string
		headers []Header
		want    CloudEventMode
	}{
		{"no headers", nil, NotCloudEvent},
		{"unrelated headers", hdrs("trace", "x", "content-type", "application/json"), NotCloudEvent},
		{"ce_specversion", hdrs("ce_specversion", "1.0"), BinaryMode},
		{"ce_specversion of another version is still binary mode", hdrs("ce_specversion", "0.3"), BinaryMode},
		{"ce_ headers without ce_specversion", hdrs("ce_id", "1", "ce_type", "a"), NotCloudEvent},
		{"structured", hdrs("content-type", "application/cloudevents+json; charset=UTF-8"), StructuredMode},
		{"structured, media type in another case", hdrs("content-type", "Application/CloudEvents+JSON"), StructuredMode},
		{"structured wins over ce_ headers", hdrs("ce_specversion", "1.0", "content-type", "application/cloudevents+json"), StructuredMode},
		{"binary mode with a JSON content-type", hdrs("ce_specversion", "1.0", "content-type", "application/json"), BinaryMode},
	}
	for _, tt := range tests {
		if got := CloudEventModeOf(tt.headers); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestDecodeCloudEventBinary(t *testing.T) {
	at := time.Date(2026, 12, 2, 9, 0, 1, 500000000, time.UTC)
	ev, err := DecodeCloudEvent(BinaryMode, binary("ce_time", "2026-12-02T09:00:01.5Z", "ce_subject", "in_1",
		"ce_tenant", "acme", "ce_traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"content-type", "application/json; charset=utf-8", "ce_dataschema", "https://example.com/s.json",
		"other", "ignored"), []byte(` {"amount":42} `))
	if err != nil {
		t.Fatalf("DecodeCloudEvent: %v", err)
	}
	if ev.ID != CloudEventID("/orders", "A-1") || ev.Tenant != "acme" || ev.Type != "com.example.order.paid" ||
		string(ev.Data) != ` {"amount":42} ` || !ev.CreatedAt.Equal(at) {
		t.Errorf("event %+v", ev)
	}
	ce := ev.CloudEvent
	if ce == nil || ce.SpecVersion != "1.0" || ce.ID != "A-1" || ce.Source != "/orders" || ce.Subject != "in_1" ||
		!ce.Time.Equal(at) || ce.DataContentType != "application/json; charset=utf-8" || ce.DataSchema != "https://example.com/s.json" ||
		len(ce.Extensions) != 2 || ce.Extensions["tenant"] != "acme" || !strings.HasPrefix(ce.Extensions["traceparent"], "00-4bf9") {
		t.Errorf("attributes %+v", ce)
	}

	// Without content-type, a ce_datacontenttype header counts; with
	// it, content-type wins (§3.2.1).
	ev, err = DecodeCloudEvent(BinaryMode, binary("ce_datacontenttype", "application/vnd.a+json"), []byte(`1`))
	if err != nil || ev.CloudEvent.DataContentType != "application/vnd.a+json" {
		t.Errorf("ce_datacontenttype alone: %v %+v", err, ev.CloudEvent)
	}
	ev, err = DecodeCloudEvent(BinaryMode, binary("ce_datacontenttype", "application/xml", "content-type", "application/json"), []byte(`1`))
	if err != nil || ev.CloudEvent.DataContentType != "application/json" {
		t.Errorf("content-type beside ce_datacontenttype: %v %+v", err, ev.CloudEvent)
	}
	// No tenant attribute: left for the caller.
	ev, err = DecodeCloudEvent(BinaryMode, binary(), []byte(`{}`))
	if err != nil || ev.Tenant != "" || ev.CloudEvent.Extensions != nil {
		t.Errorf("without a tenant: %v %+v", err, ev)
	}
}

func TestDecodeCloudEventStructured(t *testing.T) {
	ct := hdrs("content-type", "application/cloudevents+json; charset=UTF-8", "ce_id", "header-ignored")
	ev, err := DecodeCloudEvent(StructuredMode, ct, []byte(`{"specversion":"1.0","id":"B-2","source":"urn:x","type":"a.b",
		"time":"2026-12-02T09:00:00Z","subject":null,"tenant":"acme","count":5,"flag":true,
		"datacontenttype":"application/json","data": {"x": [1, 2]} }`))
	if err != nil {
		t.Fatalf("DecodeCloudEvent: %v", err)
	}
	if ev.ID != CloudEventID("urn:x", "B-2") || ev.Tenant != "acme" || ev.Type != "a.b" || string(ev.Data) != `{"x": [1, 2]}` {
		t.Errorf("event %+v", ev)
	}
	ce := ev.CloudEvent
	if ce.ID != "B-2" || ce.Subject != "" || ce.Extensions["count"] != "5" || ce.Extensions["flag"] != "true" || len(ce.Extensions) != 3 {
		t.Errorf("attributes %+v", ce)
	}

	b64 := base64.StdEncoding.EncodeToString([]byte(`{"from":"base64"}`))
	ev, err = DecodeCloudEvent(StructuredMode, nil, []byte(`{"specversion":"1.0","id":"1","source":"s","type":"t","data_base64":"`+b64+`"}`))
	if err != nil || string(ev.Data) != `{"from":"base64"}` {
		t.Errorf("data_base64: %v %q", err, ev.Data)
	}
	// A JSON string is data too (no datacontenttype: application/json).
	ev, err = DecodeCloudEvent(StructuredMode, nil, []byte(`{"specversion":"1.0","id":"1","source":"s","type":"t","data":"just a string"}`))
	if err != nil || string(ev.Data) != `"just a string"` {
		t.Errorf("string data: %v %q", err, ev.Data)
	}
}

func TestDecodeCloudEventInvalid(t *testing.T) {
	long := strings.Repeat("x", MaxAttributeLen+1)
	ext := []string{}
	for i := range MaxCloudEventExtends + 1 {
		ext = append(ext, "ce_e"+string(rune('a'+i%26))+string(rune('a'+i/26)), "v")
	}
	structured := func(body string) []byte { return []byte(body) }
	tests := []struct {
		name    string
		mode    CloudEventMode
		headers []Header
		value   []byte
		field   string
	}{
		{"specversion 0.3", BinaryMode, hdrs("ce_specversion", "0.3", "ce_id", "1", "ce_source", "s", "ce_type", "t"), []byte(`{}`), "ce_specversion"},
		{"missing ce_id", BinaryMode, hdrs("ce_specversion", "1.0", "ce_source", "s", "ce_type", "t"), []byte(`{}`), "ce_id"},
		{"missing ce_source", BinaryMode, hdrs("ce_specversion", "1.0", "ce_id", "1", "ce_type", "t"), []byte(`{}`), "ce_source"},
		{"missing ce_type", BinaryMode, hdrs("ce_specversion", "1.0", "ce_id", "1", "ce_source", "s"), []byte(`{}`), "ce_type"},
		{"empty ce_id", BinaryMode, binary("ce_id", ""), []byte(`{}`), "ce_id"},
		{"ce_id twice", BinaryMode, binary("ce_id", "2"), []byte(`{}`), "ce_id"},
		{"a type hookstream cannot route", BinaryMode, hdrs("ce_specversion", "1.0", "ce_id", "1", "ce_source", "s", "ce_type", "com/example"), []byte(`{}`), "ce_type"},
		{"invalid UTF-8 in a value", BinaryMode, binary("ce_subject", "a\xffb"), []byte(`{}`), "ce_subject"},
		{"invalid UTF-8 in a name", BinaryMode, binary("ce_\xff", "v"), []byte(`{}`), "header ce_\uFFFD"},
		{"NUL in a value", BinaryMode, binary("ce_subject", "a\x00b"), []byte(`{}`), "ce_subject"},
		{"a C1 control character", BinaryMode, binary("ce_subject", "a\u0085b"), []byte(`{}`), "ce_subject"},
		{"a noncharacter", BinaryMode, binary("ce_subject", "a\uFFFEb"), []byte(`{}`), "ce_subject"},
		{"an attribute over the limit", BinaryMode, binary("ce_subject", long), []byte(`{}`), "ce_subject"},
		{"upper case in a name", BinaryMode, binary("ce_Tenant", "acme"), []byte(`{}`), "ce_Tenant"},
		{"a dash in a name", BinaryMode, binary("ce_my-ext", "v"), []byte(`{}`), "ce_my-ext"},
		{"ce_data", BinaryMode, binary("ce_data", "v"), []byte(`{}`), "ce_data"},
		{"too many extensions", BinaryMode, binary(ext...), []byte(`{}`), "ce_e" + string(rune('a'+MaxCloudEventExtends%26)) + string(rune('a'+MaxCloudEventExtends/26))},
		{"a bad time", BinaryMode, binary("ce_time", "yesterday"), []byte(`{}`), "ce_time"},
		{"a relative dataschema", BinaryMode, binary("ce_dataschema", "/s.json"), []byte(`{}`), "ce_dataschema"},
		{"a tenant hookstream cannot hold", BinaryMode, binary("ce_tenant", "a b"), []byte(`{}`), "ce_tenant"},
		{"XML data", BinaryMode, binary("content-type", "application/xml"), []byte(`<a/>`), "content-type"},
		{"not a media type", BinaryMode, binary("content-type", "json"), []byte(`{}`), "content-type"},
		{"no data", BinaryMode, binary(), nil, "value"},
		{"data not JSON", BinaryMode, binary(), []byte(`{"a":`), "value"},
		{"data invalid UTF-8", BinaryMode, binary(), []byte("\"\xff\""), "value"},

		{"structured: not JSON", StructuredMode, nil, structured(`{"specversion"`), "value"},
		{"structured: an array", StructuredMode, nil, structured(`[]`), "value"},
		{"structured: a duplicate member", StructuredMode, nil, structured(`{"specversion":"1.0","id":"1","id":"2","source":"s","type":"t","data":1}`), "value"},
		{"structured: Avro", StructuredMode, hdrs("content-type", "application/cloudevents+avro"), structured(`{}`), "content-type"},
		{"structured: batch", StructuredMode, hdrs("content-type", "application/cloudevents-batch+json"), structured(`[]`), "content-type"},
		{"structured: specversion 0.3", StructuredMode, nil, structured(`{"specversion":"0.3","id":"1","source":"s","type":"t","data":1}`), "specversion"},
		{"structured: no source", StructuredMode, nil, structured(`{"specversion":"1.0","id":"1","type":"t","data":1}`), "source"},
		{"structured: an object attribute", StructuredMode, nil, structured(`{"specversion":"1.0","id":"1","source":"s","type":"t","ext":{},"data":1}`), "ext"},
		{"structured: a fraction", StructuredMode, nil, structured(`{"specversion":"1.0","id":"1","source":"s","type":"t","ext":1.5,"data":1}`), "ext"},
		{"structured: id a number", StructuredMode, nil, structured(`{"specversion":"1.0","id":1,"source":"s","type":"t","data":1}`), "id"},
		{"structured: no data", StructuredMode, nil, structured(`{"specversion":"1.0","id":"1","source":"s","type":"t"}`), "data"},
		{"structured: null data", StructuredMode, nil, structured(`{"specversion":"1.0","id":"1","source":"s","type":"t","data":null}`), "data"},
		{"structured: XML data", StructuredMode, nil, structured(`{"specversion":"1.0","id":"1","source":"s","type":"t","datacontenttype":"text/xml","data":"<a/>"}`), "datacontenttype"},
		{"structured: data and data_base64", StructuredMode, nil, structured(`{"specversion":"1.0","id":"1","source":"s","type":"t","data":1,"data_base64":"MQ=="}`), "data"},
		{"structured: data_base64 not base64", StructuredMode, nil, structured(`{"specversion":"1.0","id":"1","source":"s","type":"t","data_base64":"%%"}`), "data_base64"},
		{"structured: data_base64 not JSON", StructuredMode, nil, structured(`{"specversion":"1.0","id":"1","source":"s","type":"t","data_base64":"PGEvPg=="}`), "data_base64"},
		{"not a CloudEvent", NotCloudEvent, nil, []byte(`{}`), "value"},
	}
	for _, tt := range tests {
		_, err := DecodeCloudEvent(tt.mode, tt.headers, tt.value)
		var fe *FieldError
		if !errors.As(err, &fe) || !errors.Is(err, ErrInvalidEvent) {
			t.Errorf("%s: %v, want a FieldError", tt.name, err)
			continue
		}
		if tt.field != "" && fe.Field != tt.field {
			t.Errorf("%s: field %q (%v), want %q", tt.name, fe.Field, err, tt.field)
		}
	}
}

func TestCloudEventID(t *testing.T) {
	a := CloudEventID("/orders", "1")
	if a != CloudEventID("/orders", "1") || a == CloudEventID("/orders", "2") || a == CloudEventID("/orders/1", "") ||
		a == CloudEventID("/billing", "1") || !strings.HasPrefix(a, "evt_") {
		t.Errorf("CloudEventID is not a stable function of source and id: %s", a)
	}
}

func TestDecodeEventDropsCloudEvent(t *testing.T) {
	ev, err := DecodeEvent([]byte(`{"tenant":"a","type":"t","data":1,"cloudevent":{"specversion":"1.0","id":"forged"}}`))
	if err != nil || ev.CloudEvent != nil {
		t.Errorf("DecodeEvent kept a publisher's cloudevent: %v %+v", err, ev.CloudEvent)
	}
}

func TestTaskCarriesCloudEvent(t *testing.T) {
	ev, err := DecodeCloudEvent(BinaryMode, binary("ce_tenant", "acme", "ce_subject", "s<&>"), []byte(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	task, err := DecodeTask(EncodeTask(NewTask(ev, "ep_1")))
	if err != nil || task.Event.CloudEvent == nil || task.Event.CloudEvent.Subject != "s<&>" || task.Event.CloudEvent.Extensions["tenant"] != "acme" ||
		string(task.Event.Data) != `{"a":1}` {
		t.Errorf("task round trip: %v %+v", err, task.Event.CloudEvent)
	}
}

// The dispatcher's decoding of one event, as an envelope and as a
// CloudEvent in either mode (the same data).
func BenchmarkDecodeEventForms(b *testing.B) {
	data := `{"invoice":"in_1","amount":4200,"lines":[{"sku":"a","n":1},{"sku":"b","n":2}]}`
	envelope := []byte(`{"tenant":"acme","type":"invoice.paid","id":"in_1-paid","data":` + data + `}`)
	bin := binary("ce_tenant", "acme", "ce_time", "2026-12-02T09:00:00Z", "content-type", "application/json")
	structured := hdrs("content-type", "application/cloudevents+json")
	sv := []byte(`{"specversion":"1.0","id":"A-1","source":"/orders","type":"com.example.order.paid","tenant":"acme","time":"2026-12-02T09:00:00Z","data":` + data + `}`)
	b.Run("envelope", func(b *testing.B) {
		for b.Loop() {
			if _, err := DecodeEvent(envelope); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cloudevents-binary", func(b *testing.B) {
		for b.Loop() {
			ev, err := DecodeCloudEvent(CloudEventModeOf(bin), bin, []byte(data))
			if err == nil {
				err = ev.Validate()
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cloudevents-structured", func(b *testing.B) {
		for b.Loop() {
			ev, err := DecodeCloudEvent(CloudEventModeOf(structured), structured, sv)
			if err == nil {
				err = ev.Validate()
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}
