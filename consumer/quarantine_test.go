package consumer

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/internal/testenv"
)

// readAll reads a topic (read committed) until it holds want records or the
// timeout passes, then a second more for anything beyond want.
func readAll(t *testing.T, brokers []string, topic string, want int, timeout time.Duration) []*kgo.Record {
	t.Helper()
	rd, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	testenv.Must(t, err, "reader")
	defer rd.Close()
	var recs []*kgo.Record
	deadline := time.Now().Add(timeout)
	for len(recs) < want && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		rd.PollFetches(ctx).EachRecord(func(r *kgo.Record) { recs = append(recs, r) })
		cancel()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	rd.PollFetches(ctx).EachRecord(func(r *kgo.Record) { recs = append(recs, r) })
	cancel()
	return recs
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// counts counts records by value.
func counts(recs []*kgo.Record) map[string]int {
	n := map[string]int{}
	for _, r := range recs {
		n[string(r.Value)]++
	}
	return n
}

// checkQuarantined asserts that the quarantine topic holds exactly the
// poison values, each once, with the headers that say where it came from.
func checkQuarantined(t *testing.T, q []*kgo.Record, stage, from string, poison ...string) {
	t.Helper()
	got := counts(q)
	for _, p := range poison {
		if got[p] != 1 {
			t.Errorf("poison record %q quarantined %d times, want once", p, got[p])
		}
	}
	if len(q) != len(poison) {
		t.Errorf("quarantine holds %d records (%v), want %d", len(q), got, len(poison))
	}
	for _, r := range q {
		if header(r, HeaderQuarantineStage) != stage || header(r, HeaderQuarantineTopic) != from ||
			header(r, HeaderQuarantinePartition) == "" || header(r, HeaderQuarantineOffset) == "" ||
			!strings.Contains(header(r, HeaderQuarantineReason), "bad value") {
			t.Errorf("quarantined %q with headers %v", r.Value, r.Headers)
		}
		if header(r, "origin") != "test" {
			t.Errorf("quarantined %q lost its own headers: %v", r.Value, r.Headers)
		}
	}
}

func produceWithHeader(t *testing.T, cl *kgo.Client, topic string, partition int32, value string) {
	t.Helper()
	r := &kgo.Record{Topic: topic, Partition: partition, Value: []byte(value),
		Headers: []kgo.RecordHeader{{Key: "origin", Value: []byte("test")}}}
	testenv.Must(t, cl.ProduceSync(context.Background(), r).FirstErr(), "produce")
}

// A transform whose batches fail for poison records commits every other
// record's outputs exactly once and moves each poison record, alone, to the
// quarantine topic. An outage on the way (plain errors) quarantines nothing.
func TestTransformQuarantinesPoisonRecords(t *testing.T) {
	brokers := testenv.Brokers(t)
	in, out, quar := testenv.Name("in"), testenv.Name("out"), testenv.Name("quar")
	cl := topic(t, brokers, in, 2)
	topic(t, brokers, out, 1)
	topic(t, brokers, quar, 1)
	const n = 60
	poison := map[string]bool{"7": true, "8": true, "33": true, "59": true}
	for i := 0; i < n; i++ {
		produceWithHeader(t, cl, in, int32(i%2), strconv.Itoa(i))
	}
	var (
		mu      sync.Mutex
		outages = 3
		panics  = 1
	)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var quarantined []string
	go func() {
		done <- RunTransform(ctx, Config{Brokers: brokers, Group: in, Topics: []string{in}, TransactionalID: in,
			MaxPollRecords: 16, Quarantine: quar,
			OnQuarantine: func(r *kgo.Record, _ error) {
				mu.Lock()
				quarantined = append(quarantined, string(r.Value))
				mu.Unlock()
			}},
			func(_ context.Context, recs []*kgo.Record, emit Emit) error {
				mu.Lock()
				defer mu.Unlock()
				if outages > 0 {
					outages--
					return errors.New("store unavailable")
				}
				for _, r := range recs {
					emit(&kgo.Record{Topic: out, Value: r.Value})
				}
				for _, r := range recs {
					if string(r.Value) == "33" && panics > 0 {
						panics--
						panic("bad value 33 made the stage panic")
					}
					if poison[string(r.Value)] {
						return Poison(fmt.Errorf("bad value %s", r.Value))
					}
				}
				return nil
			})
	}()
	got := readAll(t, brokers, out, n-len(poison), 30*time.Second)
	q := readAll(t, brokers, quar, len(poison), 10*time.Second)
	cancel()
	testenv.Must(t, <-done, "RunTransform")

	seen := counts(got)
	for i := 0; i < n; i++ {
		v := strconv.Itoa(i)
		want := 1
		if poison[v] {
			want = 0
		}
		if seen[v] != want {
			t.Errorf("record %s visible %d times downstream, want %d", v, seen[v], want)
		}
	}
	checkQuarantined(t, q, in, in, "7", "8", "33", "59")
	mu.Lock()
	defer mu.Unlock()
	if len(quarantined) != len(poison) {
		t.Errorf("OnQuarantine told of %v, want the %d poison records", quarantined, len(poison))
	}
}

// A sink whose store refuses poison records stores every other record and
// moves each poison record to the quarantine topic; an outage in between
// quarantines nothing and stores everything, once it ends.
func TestSinkQuarantinesPoisonRecords(t *testing.T) {
	brokers := testenv.Brokers(t)
	in, quar := testenv.Name("sink"), testenv.Name("quar")
	cl := topic(t, brokers, in, 2)
	topic(t, brokers, quar, 1)
	const n = 40
	poison := map[string]bool{"0": true, "21": true, "22": true}
	for i := 0; i < n; i++ {
		produceWithHeader(t, cl, in, int32(i%2), strconv.Itoa(i))
	}
	var (
		mu      sync.Mutex
		stored  = map[string]int{}
		outages = 2
		calls   int
	)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- RunSink(ctx, Config{Brokers: brokers, Group: in, Topics: []string{in}, MaxPollRecords: 16, Quarantine: quar},
			func(_ context.Context, recs []*kgo.Record) error {
				mu.Lock()
				defer mu.Unlock()
				calls++
				// The store fails for an outage once the isolation has
				// begun: what was quarantined stays quarantined once.
				if calls == 3 && outages > 0 {
					outages--
					calls--
					return errors.New("store unavailable")
				}
				for _, r := range recs {
					if poison[string(r.Value)] {
						return Poison(fmt.Errorf("bad value %s", r.Value))
					}
				}
				for _, r := range recs {
					stored[string(r.Value)]++
				}
				return nil
			})
	}()
	testenv.Eventually(t, 30*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(stored) == n-len(poison) },
		"not every good record was stored")
	q := readAll(t, brokers, quar, len(poison), 10*time.Second)
	cancel()
	testenv.Must(t, <-done, "RunSink")
	for v := range poison {
		if stored[v] != 0 {
			t.Errorf("poison record %s stored", v)
		}
	}
	checkQuarantined(t, q, in, in, "0", "21", "22")
}

// Concurrent stages quarantine a record the stage calls poison, or whose
// stage panics, and commit past it; a record whose outputs the broker
// refuses as too large goes there too.
func TestConcurrentQuarantinesPoisonRecords(t *testing.T) {
	brokers := testenv.Brokers(t)
	in, out, quar := testenv.Name("conc"), testenv.Name("out"), testenv.Name("quar")
	cl := topic(t, brokers, in, 1)
	topic(t, brokers, out, 1)
	topic(t, brokers, quar, 1)
	const n = 30
	for i := 0; i < n; i++ {
		produceWithHeader(t, cl, in, 0, strconv.Itoa(i))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- RunConcurrent(ctx, Config{Brokers: brokers, Group: in, Topics: []string{in}, Quarantine: quar,
			CommitInterval: 20 * time.Millisecond, ClientOpts: []kgo.Opt{kgo.ProducerBatchMaxBytes(64 << 10)}},
			nil, func(_ context.Context, r *kgo.Record) ([]*kgo.Record, error) {
				switch string(r.Value) {
				case "3":
					return nil, Poison(errors.New("bad value 3"))
				case "4":
					panic("bad value 4 made the stage panic")
				case "5":
					// bad value: an output larger than any batch
					return []*kgo.Record{{Topic: out, Value: make([]byte, 128<<10)}}, nil
				}
				return []*kgo.Record{{Topic: out, Value: r.Value}}, nil
			})
	}()
	got := readAll(t, brokers, out, n-3, 20*time.Second)
	q := readAll(t, brokers, quar, 3, 10*time.Second)
	testenv.Eventually(t, 10*time.Second, func() bool { return committedOffset(t, cl, in, in) == n },
		"commit did not pass the poison records")
	cancel()
	testenv.Must(t, <-done, "RunConcurrent")
	seen := counts(got)
	for i := 0; i < n; i++ {
		if i >= 3 && i <= 5 {
			continue
		}
		if seen[strconv.Itoa(i)] != 1 {
			t.Errorf("record %d stored %d times, want once", i, seen[strconv.Itoa(i)])
		}
	}
	// Reasons differ (poison, panic, too large); all name the value or the
	// broker's refusal.
	for _, r := range q {
		if string(r.Value) == "5" {
			if !strings.Contains(header(r, HeaderQuarantineReason), "MESSAGE_TOO_LARGE") {
				t.Errorf("too-large outputs quarantined with reason %q", header(r, HeaderQuarantineReason))
			}
			for i, h := range r.Headers {
				if h.Key == HeaderQuarantineReason {
					r.Headers[i].Value = []byte("bad value (too large)")
				}
			}
		}
	}
	checkQuarantined(t, q, in, in, "3", "4", "5")
}

// Only poison is poison: outages, cancellations and plain errors are not.
func TestIsPoison(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{Poison(errors.New("x")), true},
		{fmt.Errorf("wrapped: %w", Poison(errors.New("x"))), true},
		{errors.New("connection refused"), false},
		{context.DeadlineExceeded, false},
		{Poison(nil), false},
	} {
		if got := tc.err != nil && IsPoison(tc.err); got != tc.want {
			t.Errorf("IsPoison(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	if got := classify(Poison(errors.New("bad")), nil, []error{errors.New("broker down")}); IsPoison(got) {
		t.Errorf("a poison record during an outage classified as poison: %v", got)
	}
	if got := classify(nil, nil, nil); got != nil {
		t.Errorf("no errors classified as %v", got)
	}
	if got := cleanReason("a\x00b\xffc\n" + strings.Repeat("é", 1000)); strings.ContainsAny(got, "\x00\n") || len(got) > maxReason+3 {
		t.Errorf("cleanReason left %q", got[:20])
	}
}

// A batch its stage calls too big (ErrSplit) is read again in halves, at
// once, down to a single record, which is handed over whatever it says;
// every record's output commits once.
func TestTransformSplitsBatchesTooBig(t *testing.T) {
	brokers := testenv.Brokers(t)
	in, out := testenv.Name("in"), testenv.Name("out")
	cl := topic(t, brokers, in, 1)
	topic(t, brokers, out, 1)
	const n = 40
	for i := 0; i < n; i++ {
		produce(t, cl, in, 0, strconv.Itoa(i), time.Time{})
	}
	var (
		mu      sync.Mutex
		largest int
	)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- RunTransform(ctx, Config{Brokers: brokers, Group: in, Topics: []string{in}, TransactionalID: in, MaxPollRecords: 32},
			func(_ context.Context, recs []*kgo.Record, emit Emit) error {
				// Record "7" alone is too big for any batch but its own.
				for _, r := range recs {
					if len(recs) > 4 || (string(r.Value) == "7" && len(recs) > 1) {
						return fmt.Errorf("%d records: %w", len(recs), ErrSplit)
					}
				}
				mu.Lock()
				largest = max(largest, len(recs))
				mu.Unlock()
				for _, r := range recs {
					emit(&kgo.Record{Topic: out, Value: r.Value})
				}
				return nil
			})
	}()
	got := counts(readAll(t, brokers, out, n, 30*time.Second))
	cancel()
	testenv.Must(t, <-done, "RunTransform")
	for i := 0; i < n; i++ {
		if got[strconv.Itoa(i)] != 1 {
			t.Errorf("record %d visible %d times, want once", i, got[strconv.Itoa(i)])
		}
	}
	if largest > 4 || largest == 0 {
		t.Errorf("largest batch committed: %d records, want 1 to 4", largest)
	}
}

// What a batch registers with OnCommit runs once it commits, never for an
// aborted try: counts read from it are those of committed batches.
func TestOnCommitRunsOnlyForCommittedBatches(t *testing.T) {
	brokers := testenv.Brokers(t)
	in, out := testenv.Name("in"), testenv.Name("out")
	cl := topic(t, brokers, in, 1)
	topic(t, brokers, out, 1)
	const n = 10
	for i := 0; i < n; i++ {
		produce(t, cl, in, 0, strconv.Itoa(i), time.Time{})
	}
	var (
		mu            sync.Mutex
		tries         int
		counted, seen int
	)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- RunTransform(ctx, Config{Brokers: brokers, Group: in, Topics: []string{in}, TransactionalID: in, Quarantine: out},
			func(ctx context.Context, recs []*kgo.Record, emit Emit) error {
				mu.Lock()
				defer mu.Unlock()
				tries++
				seen += len(recs)
				k := len(recs)
				OnCommit(ctx, func() { mu.Lock(); counted += k; mu.Unlock() })
				for _, r := range recs {
					emit(&kgo.Record{Topic: out, Value: r.Value})
				}
				if tries <= 2 {
					return errors.New("store unavailable") // aborted: not counted
				}
				return nil
			})
	}()
	testenv.Eventually(t, 30*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return counted == n },
		"committed records not counted")
	time.Sleep(200 * time.Millisecond)
	cancel()
	testenv.Must(t, <-done, "RunTransform")
	mu.Lock()
	defer mu.Unlock()
	if counted != n || seen <= n {
		t.Errorf("counted %d of %d records handed over %d times; want exactly %d, from more tries", counted, n, seen, n)
	}
	ran := false
	OnCommit(context.Background(), func() { ran = true })
	if !ran {
		t.Error("OnCommit outside a batch did not run at once")
	}
}
