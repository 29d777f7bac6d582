package routing

import (
	"github.com/hookstream/hookstream/delivery"
	"github.com/hookstream/hookstream/filter"
	"github.com/hookstream/hookstream/schema"
)

// CloudEventsSource is the CloudEvents source of the events hookstream
// sends that did not come in as CloudEvents: one per tenant.
func CloudEventsSource(tenant string) string { return "hookstream/" + tenant }

// Message is an event as the payload formats, and the filters'
// attributes, see it. An event that came in as a CloudEvent keeps its
// attributes; any other gets its id, type and creation time, and the
// tenant's CloudEventsSource.
func Message(ev schema.Event) delivery.Message {
	m := delivery.Message{
		ID:     ev.ID,
		Type:   ev.Type,
		Time:   ev.CreatedAt,
		Data:   ev.Data,
		Source: CloudEventsSource(ev.Tenant),
	}
	if ce := ev.CloudEvent; ce != nil {
		m.ID, m.Source, m.Subject, m.DataSchema = ce.ID, ce.Source, ce.Subject, ce.DataSchema
		m.DataContentType, m.Extensions = ce.DataContentType, ce.Extensions
		if !ce.Time.IsZero() {
			m.Time = ce.Time
		}
	}
	return m
}

// FilterInput is what the endpoints' filters see of an event: its fields,
// the headers it was published with (nil: none), and its CloudEvents
// attributes (Message's), made only if a filter reads them.
func FilterInput(ev schema.Event, headers func() map[string]string) *filter.Input {
	return filter.NewInput(filter.Event{
		ID: ev.ID, Tenant: ev.Tenant, Type: ev.Type, Time: ev.CreatedAt, Data: ev.Data,
		Headers:    headers,
		Attributes: func() map[string]string { return Message(ev).Attributes() },
	})
}
