package consumer

import (
	"context"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// pauser holds back records that are not yet due: it rewinds their
// partition to the first such record, pauses it, and resumes it when that
// record is due. Revoked or lost partitions drop their timer and resume, so
// that a partition assigned again later is not left paused.
type pauser struct {
	cl *kgo.Client

	mu     sync.Mutex
	timers map[tp]*time.Timer
}

type tp struct {
	topic     string
	partition int32
}

func newPauser() *pauser { return &pauser{timers: map[tp]*time.Timer{}} }

// hold returns the records that are due at now. For each partition whose
// records are not all due, it keeps the due prefix, rewinds the partition
// to the first record not due, and pauses it until that record's due time.
// It runs on the polling goroutine while rebalances are blocked.
func (p *pauser) hold(recs []*kgo.Record, gate Gate, now time.Time) []*kgo.Record {
	out := recs[:0:0]
	held := map[tp]bool{}
	rewind := map[string]map[int32]kgo.EpochOffset{}
	for _, r := range recs {
		k := tp{r.Topic, r.Partition}
		if held[k] {
			continue
		}
		due := gate(r)
		if due.IsZero() || !due.After(now) {
			out = append(out, r)
			continue
		}
		held[k] = true
		if rewind[r.Topic] == nil {
			rewind[r.Topic] = map[int32]kgo.EpochOffset{}
		}
		rewind[r.Topic][r.Partition] = kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset}
		p.pauseUntil(k, due.Sub(now))
	}
	if len(rewind) > 0 {
		p.cl.SetOffsets(rewind)
	}
	return out
}

func (p *pauser) pauseUntil(k tp, d time.Duration) {
	p.cl.PauseFetchPartitions(map[string][]int32{k.topic: {k.partition}})
	p.mu.Lock()
	defer p.mu.Unlock()
	if t, ok := p.timers[k]; ok {
		t.Stop()
	}
	p.timers[k] = time.AfterFunc(d, func() {
		p.mu.Lock()
		delete(p.timers, k)
		p.mu.Unlock()
		p.cl.ResumeFetchPartitions(map[string][]int32{k.topic: {k.partition}})
	})
}

// revoked is the OnPartitionsRevoked/Lost hook.
func (p *pauser) revoked(_ context.Context, cl *kgo.Client, lost map[string][]int32) {
	p.mu.Lock()
	for topic, parts := range lost {
		for _, part := range parts {
			if t, ok := p.timers[tp{topic, part}]; ok {
				t.Stop()
				delete(p.timers, tp{topic, part})
			}
		}
	}
	p.mu.Unlock()
	cl.ResumeFetchPartitions(lost)
}

func (p *pauser) stopAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, t := range p.timers {
		t.Stop()
		delete(p.timers, k)
	}
}
