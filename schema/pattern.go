package schema

import "strings"

// ValidatePattern checks an endpoint's event-type filter. A pattern is an
// event type in which a whole segment may be '*': a '*' in the middle
// matches exactly one segment, a final '*' matches one or more segments.
// "*" alone subscribes to every event type.
func ValidatePattern(p string) error {
	if p == "*" {
		return nil
	}
	if err := ValidateType(strings.ReplaceAll(p, "*", "x")); err != nil {
		return &FieldError{Field: "event_types", Reason: "pattern " + quote(p) + " is not an event type with optional '*' segments"}
	}
	for _, seg := range strings.Split(p, ".") {
		if strings.Contains(seg, "*") && seg != "*" {
			return &FieldError{Field: "event_types", Reason: "pattern " + quote(p) + ": '*' must be a whole segment"}
		}
	}
	return nil
}

func quote(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return "\"" + s + "\""
}

// MatchType reports whether the event type t matches the pattern p (see
// ValidatePattern). Types in the reserved "hookstream." namespace only match
// patterns that spell out the "hookstream" segment, so that "*" does not
// surprise a subscriber with operational events.
func MatchType(p, t string) bool {
	if strings.HasPrefix(t, ReservedTypePrefix) && !strings.HasPrefix(p, ReservedTypePrefix) {
		return false
	}
	if p == "*" {
		return true
	}
	for {
		pseg, prest, pmore := strings.Cut(p, ".")
		tseg, trest, tmore := strings.Cut(t, ".")
		if pseg == "*" && !pmore {
			return true // a final '*' takes the rest, at least one segment
		}
		if pseg != "*" && pseg != tseg {
			return false
		}
		if !pmore || !tmore {
			return pmore == tmore
		}
		p, t = prest, trest
	}
}

// MatchAny reports whether t matches one of the patterns.
func MatchAny(patterns []string, t string) bool {
	for _, p := range patterns {
		if MatchType(p, t) {
			return true
		}
	}
	return false
}

// ExampleType is an event type the patterns match, for a test event: the
// first exact type, else the first pattern with each '*' read as "test",
// else "test.ping" (for "*"). Patterns of the reserved namespace are
// skipped; "" when only they are left.
func ExampleType(patterns []string) string {
	var others []string
	for _, p := range patterns {
		if !strings.HasPrefix(p, ReservedTypePrefix) {
			others = append(others, p)
		}
	}
	for _, p := range others {
		if !strings.Contains(p, "*") {
			return p
		}
	}
	for _, p := range others {
		if p != "*" {
			return strings.ReplaceAll(p, "*", "test")
		}
	}
	if len(others) > 0 {
		return "test.ping"
	}
	return ""
}
