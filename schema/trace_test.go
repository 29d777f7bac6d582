package schema

import "testing"

func TestValidTraceparent(t *testing.T) {
	for s, want := range map[string]bool{
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01":    true,
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00":    true,
		"00-00000000000000000000000000000000-b7ad6b7169203331-01":    false, // zero trace id
		"00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01":    false, // zero parent id
		"00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01":    false, // upper case
		"01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01":    false, // another version
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-":   false,
		"00-0af7651916cd43dd8448eb211c80319c_b7ad6b7169203331-01":    false,
		"00-0af7651916cd43dd8448eb211c8031\x00c-b7ad6b7169203331-01": false,
		"": false,
	} {
		if got := ValidTraceparent(s); got != want {
			t.Errorf("ValidTraceparent(%q) = %v, want %v", s, got, want)
		}
	}
	if !ValidTracestate("vendor=x,other=y") || ValidTracestate("a=\x00") || ValidTracestate(string(make([]byte, MaxTracestate+1))) {
		t.Error("ValidTracestate")
	}
}
