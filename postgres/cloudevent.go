package postgres

import (
	"encoding/json"
	"fmt"

	"github.com/hookstream/hookstream/schema"
)

// cloudEventJSON is the events.cloudevent value of an event: "" (NULL) for
// one that did not arrive as a CloudEvent.
func cloudEventJSON(ce *schema.CloudEvent) string {
	if ce == nil {
		return ""
	}
	b, err := json.Marshal(ce)
	if err != nil {
		return "" // strings and a time: cannot fail
	}
	return string(b)
}

// setCloudEvent puts an events.cloudevent value (nil: NULL) back on ev.
func setCloudEvent(ev *schema.Event, raw *string) error {
	if raw == nil || *raw == "" {
		return nil
	}
	var ce schema.CloudEvent
	if err := json.Unmarshal([]byte(*raw), &ce); err != nil {
		return fmt.Errorf("event %s: cloudevent: %w", ev.ID, err)
	}
	ev.CloudEvent = &ce
	return nil
}
