package api

import "testing"

// Every cursor the document's pattern admits is read: otherwise the API
// answers 400 to a request its own document allows.
func TestParseFeedCursor(t *testing.T) {
	for _, tt := range []struct {
		in string
		ok bool
	}{
		{"1764633600000000.1.msg_abc", true},
		{"1764633600000000.0.msg_abc", true}, // before every attempt of msg_abc
		{"-1.000000007.msg_a", true},
		{"1.1.evt_a", false},
		{"1.1.msg_", false},
		{"1.x.msg_a", false},
		{"1.msg_a", false},
	} {
		c, ok := parseFeedCursor(tt.in)
		if ok != tt.ok {
			t.Errorf("parseFeedCursor(%q) ok = %v, want %v", tt.in, ok, tt.ok)
		}
		if ok && c.DeliveryID == "" {
			t.Errorf("parseFeedCursor(%q) = %+v: no delivery id", tt.in, c)
		}
	}
}
