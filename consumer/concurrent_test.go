package consumer

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/internal/testenv"
)

func TestTrackerWatermark(t *testing.T) {
	var tr tracker
	tr.committed = -1
	slots := make([]*slot, 5)
	for i := range slots {
		slots[i] = tr.add(&kgo.Record{Offset: int64(10 + i)})
	}
	wm := func() int64 { o, _, _ := tr.watermark(); return o }
	if wm() != 10 || tr.pending() != 5 {
		t.Fatalf("fresh: watermark %d pending %d", wm(), tr.pending())
	}
	tr.finish(slots[1], true)
	tr.finish(slots[2], true)
	if wm() != 10 {
		t.Errorf("records after the first done: watermark %d, want 10 (the first is not done)", wm())
	}
	tr.finish(slots[0], true)
	if wm() != 13 {
		t.Errorf("first three done: watermark %d, want 13", wm())
	}
	tr.finish(slots[3], false) // abandoned: never committed past
	tr.finish(slots[4], true)
	if wm() != 13 || tr.pending() != 0 {
		t.Errorf("abandoned record: watermark %d pending %d, want 13 and 0", wm(), tr.pending())
	}
}

// committedOffset reads a group's committed offset of partition 0.
func committedOffset(t *testing.T, cl *kgo.Client, group, topic string) int64 {
	t.Helper()
	resp, err := kadm.NewClient(cl).FetchOffsets(context.Background(), group)
	if err != nil {
		return -1
	}
	o, ok := resp.Lookup(topic, 0)
	if !ok {
		return -1
	}
	return o.At
}

// A record that takes long holds back the commit of its partition, not the
// records behind it: they are processed meanwhile, and the commit catches
// up once it is done.
func TestConcurrentSlowRecordDoesNotHoldUpOthers(t *testing.T) {
	brokers := testenv.Brokers(t)
	name := testenv.Name("conc")
	cl := topic(t, brokers, name, 1)
	produce(t, cl, name, 0, "slow", time.Time{})
	for i := 0; i < 20; i++ {
		produce(t, cl, name, 0, strconv.Itoa(i), time.Time{})
	}
	release := make(chan struct{})
	var p processed
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- RunConcurrent(ctx, Config{Brokers: brokers, Group: name, Topics: []string{name}, CommitInterval: 20 * time.Millisecond},
			nil, func(ctx context.Context, r *kgo.Record) ([]*kgo.Record, error) {
				if string(r.Value) == "slow" {
					select {
					case <-release:
					case <-ctx.Done():
						return nil, ctx.Err()
					}
				}
				p.mark(string(r.Value))
				return nil, nil
			})
	}()
	testenv.Eventually(t, 20*time.Second, func() bool { _, n := p.get("19"); return n > 0 }, "records behind the slow one were not processed")
	if _, n := p.get("slow"); n != 0 {
		t.Fatal("slow record finished before its release")
	}
	time.Sleep(100 * time.Millisecond) // a few commit intervals
	if o := committedOffset(t, cl, name, name); o > 0 {
		t.Fatalf("committed offset %d past the slow record at 0", o)
	}
	close(release)
	testenv.Eventually(t, 20*time.Second, func() bool { return committedOffset(t, cl, name, name) == 21 },
		"commit did not catch up after the slow record finished")
	cancel()
	testenv.Must(t, <-done, "RunConcurrent")
}

// Records left unfinished at shutdown are not committed: the next member
// gets them (and nothing that was committed).
func TestConcurrentShutdownHandsBackUnfinished(t *testing.T) {
	brokers := testenv.Brokers(t)
	name := testenv.Name("handback")
	cl := topic(t, brokers, name, 1)
	for i := 0; i < 10; i++ {
		produce(t, cl, name, 0, strconv.Itoa(i), time.Time{})
	}
	var (
		mu      sync.Mutex
		first   = map[string]bool{}
		stalled = map[string]bool{}
	)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- RunConcurrent(ctx, Config{Brokers: brokers, Group: name, Topics: []string{name}, Grace: 50 * time.Millisecond},
			nil, func(ctx context.Context, r *kgo.Record) ([]*kgo.Record, error) {
				mu.Lock()
				if v, _ := strconv.Atoi(string(r.Value)); v >= 5 {
					stalled[string(r.Value)] = true
					mu.Unlock()
					<-ctx.Done() // never finishes before shutdown
					return nil, ctx.Err()
				}
				first[string(r.Value)] = true
				mu.Unlock()
				return nil, nil
			})
	}()
	// Shut down once the first five are done and the last five in flight.
	testenv.Eventually(t, 20*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(first) == 5 && len(stalled) == 5
	}, "first five not processed, or last five not started")
	cancel()
	testenv.Must(t, <-done, "RunConcurrent")
	if o := committedOffset(t, cl, name, name); o != 5 {
		t.Fatalf("committed %d at shutdown, want 5 (the unfinished record)", o)
	}

	var again processed
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	go RunConcurrent(ctx, Config{Brokers: brokers, Group: name, Topics: []string{name}},
		nil, func(_ context.Context, r *kgo.Record) ([]*kgo.Record, error) {
			again.mark(string(r.Value))
			return nil, nil
		})
	// Records of a partition run concurrently: wait for each unfinished
	// one, not for the last.
	testenv.Eventually(t, 20*time.Second, func() bool {
		for i := 5; i < 10; i++ {
			if _, n := again.get(strconv.Itoa(i)); n == 0 {
				return false
			}
		}
		return true
	}, "unfinished records 5-9 not all handed over")
	// Records 0-4 come before 5 in the partition: had they been handed
	// over again, they would have been before 5-9 were.
	for i := 0; i < 5; i++ {
		if _, n := again.get(strconv.Itoa(i)); n > 0 {
			t.Errorf("record %d, done before shutdown, handed over again", i)
		}
	}
}
