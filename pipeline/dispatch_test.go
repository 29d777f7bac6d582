package pipeline

import "testing"

func TestKeptBound(t *testing.T) {
	for _, c := range []struct {
		perTenant map[string]int
		burst     int
		want      int
	}{
		{map[string]int{}, 2000, 0},
		{map[string]int{"a": 200000, "b": 30}, 2000, 2030}, // a's fan-out backlog: at most a full bucket stays
		{map[string]int{"a": 500, "b": 30}, 2000, 530},
	} {
		if got := keptBound(c.perTenant, c.burst); got != c.want {
			t.Errorf("keptBound(%v, %d) = %d, want %d", c.perTenant, c.burst, got, c.want)
		}
	}
}
