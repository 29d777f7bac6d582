package schema

// W3C Trace Context (https://www.w3.org/TR/trace-context/): the headers an
// event's trace rides in, on records and requests.
const (
	HeaderTraceparent = "traceparent"
	HeaderTracestate  = "tracestate"
	// MaxTracestate bounds a tracestate passed on as it came: the
	// specification's 32 members of at most 256 characters fit in far
	// less in practice; a longer one is dropped.
	MaxTracestate = 512
)

// ValidTraceparent reports whether s is a traceparent of version 00 as
// the specification has it: 00-<32 hex trace id, not all zero>-<16 hex
// parent id, not all zero>-<2 hex flags>, lower case.
func ValidTraceparent(s string) bool {
	if len(s) != 55 || s[0] != '0' || s[1] != '0' || s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return false
	}
	return lowerHex(s[3:35], true) && lowerHex(s[36:52], true) && lowerHex(s[53:55], false)
}

func lowerHex(s string, nonZero bool) bool {
	zero := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '0':
		case c >= '1' && c <= '9', c >= 'a' && c <= 'f':
			zero = false
		default:
			return false
		}
	}
	return !(nonZero && zero)
}

// ValidTracestate reports whether s may be passed on as a tracestate: at
// most MaxTracestate bytes of printable ASCII.
func ValidTracestate(s string) bool {
	if len(s) > MaxTracestate {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
