package consumer

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/internal/testenv"
)

// topic creates a topic with n partitions and returns a producer client.
func topic(t *testing.T, brokers []string, name string, n int32) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	testenv.Must(t, err, "client")
	t.Cleanup(cl.Close)
	_, err = kadm.NewClient(cl).CreateTopic(context.Background(), n, -1, nil, name)
	testenv.Must(t, err, "create topic")
	testenv.WaitTopics(t, brokers, name)
	return cl
}

func dueHeader(r *kgo.Record) time.Time {
	for _, h := range r.Headers {
		if h.Key == "due" {
			ms, _ := strconv.ParseInt(string(h.Value), 10, 64)
			return time.UnixMilli(ms)
		}
	}
	return time.Time{}
}

func produce(t *testing.T, cl *kgo.Client, topic string, partition int32, value string, due time.Time) {
	t.Helper()
	r := &kgo.Record{Topic: topic, Partition: partition, Value: []byte(value)}
	if !due.IsZero() {
		r.Headers = []kgo.RecordHeader{{Key: "due", Value: []byte(strconv.FormatInt(due.UnixMilli(), 10))}}
	}
	testenv.Must(t, cl.ProduceSync(context.Background(), r).FirstErr(), "produce")
}

// processed records when each value was handed to a stage.
type processed struct {
	mu sync.Mutex
	at map[string]time.Time
	n  map[string]int
}

func (p *processed) mark(v string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.at == nil {
		p.at, p.n = map[string]time.Time{}, map[string]int{}
	}
	if _, ok := p.at[v]; !ok {
		p.at[v] = time.Now()
	}
	p.n[v]++
}

func (p *processed) get(v string) (time.Time, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.at[v], p.n[v]
}

// While one partition waits, paused, for a record that is not yet due,
// records due on another partition are handed over at once; the held
// record is handed over once due, and the one behind it no earlier.
func TestGateHoldsOnlyThePartitionThatWaits(t *testing.T) {
	brokers := testenv.Brokers(t)
	name := testenv.Name("gate")
	cl := topic(t, brokers, name, 2)

	var p processed
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- RunConcurrent(ctx, Config{Brokers: brokers, Group: name, Topics: []string{name}},
			dueHeader, func(_ context.Context, r *kgo.Record) ([]*kgo.Record, error) {
				p.mark(string(r.Value))
				return nil, nil
			})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunConcurrent: %v", err)
		}
	}()

	heldDue := time.Now().Add(3 * time.Second)
	produce(t, cl, name, 0, "held", heldDue)
	produce(t, cl, name, 0, "behind", time.Time{})
	produce(t, cl, name, 1, "other", time.Time{})

	testenv.Eventually(t, 20*time.Second, func() bool { _, n := p.get("other"); return n > 0 }, "the due record on partition 1 was not handed over")
	if at, n := p.get("held"); n > 0 && at.Before(heldDue) {
		t.Fatalf("held record handed over at %v, before its due time %v", at, heldDue)
	}
	if otherAt, _ := p.get("other"); !otherAt.Before(heldDue) {
		t.Errorf("partition 1 waited for partition 0's due time (handed over at %v, held due %v)", otherAt, heldDue)
	}
	testenv.Eventually(t, 20*time.Second, func() bool { _, n := p.get("behind"); return n > 0 }, "records of the paused partition never came")
	heldAt, heldN := p.get("held")
	behindAt, behindN := p.get("behind")
	if heldAt.Before(heldDue) {
		t.Errorf("held record handed over %v before its due time", heldDue.Sub(heldAt))
	}
	// Records of a partition run concurrently once handed over: the one
	// behind is held back with the partition, not ordered after the held
	// one.
	if behindAt.Before(heldDue) {
		t.Errorf("the record behind the held one was handed over %v before the held one was due", heldDue.Sub(behindAt))
	}
	if heldN != 1 || behindN != 1 {
		t.Errorf("handed over held ×%d, behind ×%d; want once each", heldN, behindN)
	}
}

// What a transform emits commits with its input offsets; a failed batch is
// aborted (nothing of it visible) and handed over again.
func TestTransformAbortsAndRetriesAFailedBatch(t *testing.T) {
	brokers := testenv.Brokers(t)
	in, out := testenv.Name("in"), testenv.Name("out")
	cl := topic(t, brokers, in, 1)
	topic(t, brokers, out, 1)
	for i := 0; i < 5; i++ {
		produce(t, cl, in, 0, strconv.Itoa(i), time.Time{})
	}

	var calls int
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- RunTransform(ctx, Config{Brokers: brokers, Group: in, Topics: []string{in}, TransactionalID: in},
			func(_ context.Context, recs []*kgo.Record, emit Emit) error {
				calls++
				for _, r := range recs {
					emit(&kgo.Record{Topic: out, Value: r.Value})
				}
				if calls == 1 {
					return errors.New("first batch fails after emitting")
				}
				return nil
			})
	}()

	rd, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(out),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	testenv.Must(t, err, "reader")
	defer rd.Close()
	seen := map[string]int{}
	deadline := time.Now().Add(20 * time.Second)
	for len(seen) < 5 && time.Now().Before(deadline) {
		pctx, pcancel := context.WithTimeout(context.Background(), time.Second)
		rd.PollFetches(pctx).EachRecord(func(r *kgo.Record) { seen[string(r.Value)]++ })
		pcancel()
	}
	// Anything more would show up now.
	pctx, pcancel := context.WithTimeout(context.Background(), time.Second)
	rd.PollFetches(pctx).EachRecord(func(r *kgo.Record) { seen[string(r.Value)]++ })
	pcancel()
	cancel()
	testenv.Must(t, <-done, "RunTransform")
	for i := 0; i < 5; i++ {
		if n := seen[strconv.Itoa(i)]; n != 1 {
			t.Errorf("record %d visible %d times downstream, want exactly once", i, n)
		}
	}
	if calls < 2 {
		t.Errorf("transform called %d times, want the failed batch handed over again", calls)
	}
}

// A sink whose store fails commits nothing and is handed the same records
// again until the store works; nothing is skipped.
func TestSinkRereadsUntilStored(t *testing.T) {
	brokers := testenv.Brokers(t)
	name := testenv.Name("sink")
	cl := topic(t, brokers, name, 2)
	for i := 0; i < 20; i++ {
		produce(t, cl, name, int32(i%2), strconv.Itoa(i), time.Time{})
	}
	var (
		mu       sync.Mutex
		failures = 3
		stored   = map[string]int{}
	)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- RunSink(ctx, Config{Brokers: brokers, Group: name, Topics: []string{name}, MaxPollRecords: 4},
			func(_ context.Context, recs []*kgo.Record) error {
				mu.Lock()
				defer mu.Unlock()
				if failures > 0 {
					failures--
					return errors.New("store unavailable")
				}
				for _, r := range recs {
					stored[string(r.Value)]++
				}
				return nil
			})
	}()
	testenv.Eventually(t, 30*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(stored) == 20 },
		"not every record was stored")
	cancel()
	testenv.Must(t, <-done, "RunSink")
	for v, n := range stored {
		if n != 1 {
			t.Errorf("record %s stored %d times", v, n)
		}
	}

	// A new member of the group starts after the committed offsets: nothing
	// is handed over again.
	ctx, cancel = context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	again := 0
	_ = RunSink(ctx, Config{Brokers: brokers, Group: name, Topics: []string{name}},
		func(_ context.Context, recs []*kgo.Record) error { again += len(recs); return nil })
	if again != 0 {
		t.Errorf("a restarted sink was handed %d records already stored", again)
	}
}

// A TransformFunc can tell when each record arrived in its client
// (Fetched): after it was produced, before the function saw it. A record
// that was never fetched has no such time.
func TestTransformRecordsCarryTheirFetchTime(t *testing.T) {
	brokers := testenv.Brokers(t)
	in := testenv.Name("in")
	cl := topic(t, brokers, in, 1)
	produced := time.Now()
	for i := 0; i < 3; i++ {
		produce(t, cl, in, 0, strconv.Itoa(i), time.Time{})
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type seen struct {
		fetched, handed time.Time
	}
	got := make(chan seen, 3)
	done := make(chan error, 1)
	go func() {
		done <- RunTransform(ctx, Config{Brokers: brokers, Group: in, Topics: []string{in}, TransactionalID: in},
			func(_ context.Context, recs []*kgo.Record, _ Emit) error {
				now := time.Now()
				for _, r := range recs {
					got <- seen{Fetched(r), now}
				}
				return nil
			})
	}()
	for i := 0; i < 3; i++ {
		select {
		case s := <-got:
			if s.fetched.IsZero() || s.fetched.Before(produced) || s.fetched.After(s.handed) {
				t.Errorf("record fetched at %v: want between its produce (%v) and its batch (%v)", s.fetched, produced, s.handed)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%d of 3 records handed over", i)
		}
	}
	cancel()
	testenv.Must(t, <-done, "RunTransform")
	if at := Fetched(&kgo.Record{}); !at.IsZero() {
		t.Errorf("a record never fetched: Fetched = %v, want the zero time", at)
	}
}
