package consumer

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/internal/testenv"
)

// A stage never holds more than MaxInFlightBytes of records in flight,
// however many records it may hold (MaxInFlight is far above here), and a
// record bigger than that bound is not stuck: it runs alone.
func TestConcurrentBoundsBytesInFlight(t *testing.T) {
	brokers := testenv.Brokers(t)
	name := testenv.Name("bytes")
	cl := topic(t, brokers, name, 1)
	const (
		small  = 1000
		bound  = 4 * small // four small records at once
		big    = 10 * small
		n      = 20
		bigIdx = 10
	)
	for i := 0; i < n; i++ {
		size := small
		if i == bigIdx {
			size = big
		}
		v := strconv.Itoa(i) + ":"
		produce(t, cl, name, 0, v+strings.Repeat("x", size-len(v)), time.Time{})
	}

	var (
		mu                 sync.Mutex
		bytes, count, peak int
		violations         []string
		done               = map[string]bool{}
		release            = make(chan struct{})
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stopped := make(chan error, 1)
	go func() {
		stopped <- RunConcurrent(ctx, Config{Brokers: brokers, Group: name, Topics: []string{name}, MaxInFlightBytes: bound},
			nil, func(ctx context.Context, r *kgo.Record) ([]*kgo.Record, error) {
				id, _, _ := strings.Cut(string(r.Value), ":")
				mu.Lock()
				switch {
				case len(r.Value) > bound && count > 0:
					violations = append(violations, "record "+id+" of "+strconv.Itoa(len(r.Value))+" bytes ran beside "+strconv.Itoa(count)+" others")
				case len(r.Value) <= bound && bytes+len(r.Value) > bound:
					violations = append(violations, "record "+id+" made "+strconv.Itoa(bytes+len(r.Value))+" bytes in flight")
				}
				bytes += len(r.Value)
				count++
				peak = max(peak, count)
				mu.Unlock()
				select {
				case <-release:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
				mu.Lock()
				bytes -= len(r.Value)
				count--
				done[id] = true
				mu.Unlock()
				return nil, nil
			})
	}()
	// The first four fill the bound; each release lets the next in.
	testenv.Eventually(t, 30*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return count >= 4 },
		"four records of %d bytes in flight under a bound of %d", small, bound)
	for i := 0; i < n; i++ {
		select {
		case release <- struct{}{}:
		case err := <-stopped:
			t.Fatalf("stage stopped with %d of %d records done: %v", i, n, err)
		case <-time.After(30 * time.Second):
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("no record in flight to release after %d of %d (stuck): %d in flight, %d bytes", i, n, count, bytes)
		}
	}
	testenv.Eventually(t, 30*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(done) == n },
		"all %d records done", n)
	mu.Lock()
	defer mu.Unlock()
	for _, v := range violations {
		t.Error(v)
	}
	if peak != 4 {
		t.Errorf("at most %d records in flight at once, want 4 (the bound, %d bytes, in records of %d)", peak, bound, small)
	}
}
