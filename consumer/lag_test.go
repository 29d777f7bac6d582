package consumer

import (
	"context"
	"log/slog"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/internal/testenv"
)

// A group caught up on a transactionally written topic has lag 0, although
// its committed offset sits one short of the end (the commit marker); a
// group that has read nothing lags by every record, and its oldest record
// has an age.
func TestLagMonitorIgnoresCommitMarkers(t *testing.T) {
	brokers := testenv.Brokers(t)
	in, out := testenv.Name("in"), testenv.Name("out")
	cl := topic(t, brokers, in, 1)
	topic(t, brokers, out, 1)
	for i := 0; i < 5; i++ {
		produce(t, cl, in, 0, strconv.Itoa(i), time.Time{})
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go RunTransform(ctx, Config{Brokers: brokers, Group: in, Topics: []string{in}, TransactionalID: in},
		func(_ context.Context, recs []*kgo.Record, emit Emit) error {
			for _, r := range recs {
				emit(&kgo.Record{Topic: out, Value: r.Value})
			}
			return nil
		})
	var stored atomic.Int64
	go RunSink(ctx, Config{Brokers: brokers, Group: out, Topics: []string{out}}, func(_ context.Context, recs []*kgo.Record) error {
		stored.Add(int64(len(recs)))
		return nil
	})

	mon := NewLagMonitor(cl, []Stage{{Group: in, Topic: in}, {Group: out, Topic: out}, {Group: "nobody-" + out, Topic: out}},
		slog.New(slog.DiscardHandler))
	testenv.Eventually(t, 30*time.Second, func() bool {
		if err := mon.Measure(ctx); err != nil {
			t.Logf("measure: %v", err)
			return false
		}
		a, okA := mon.lag(in, in, 0)
		b, okB := mon.lag(out, out, 0)
		return okA && okB && a == 0 && b == 0
	}, "groups never caught up according to the monitor")

	// 5 records and the marker of the transaction that wrote them.
	if n, _ := mon.lag("nobody-"+out, out, 0); n != 6 {
		t.Errorf("a group that read nothing lags %d, want 6 offsets", n)
	}
	if age, ok := mon.age("nobody-"+out, out); !ok || age <= 0 {
		t.Errorf("oldest unprocessed age of a group that read nothing = %v, %v; want > 0", age, ok)
	}
	if age, _ := mon.age(out, out); age != 0 {
		t.Errorf("age of a caught-up group = %v, want 0", age)
	}
	if n := stored.Load(); n != 5 {
		t.Errorf("sink stored %d, want 5", n)
	}
}
