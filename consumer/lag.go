package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Stage is a consumer group and the topic it reads. Gate, when set, makes
// the stage's age the time its oldest unprocessed record is overdue,
// rather than the time since it was written (retry tiers wait on purpose).
type Stage struct {
	Group string
	Topic string
	Gate  Gate
}

// LagMonitor measures, for each stage, how many records each partition is
// behind and how old the oldest unprocessed record is. It is a Prometheus
// collector serving the last measurement:
//
//	hookstream_consumer_lag_records{group,topic,partition}
//	hookstream_consumer_oldest_unprocessed_age_seconds{group,topic}
//
// On transactionally written topics a partition that is caught up still
// sits one offset short of the end: the commit marker. The monitor reads
// from the committed offset, and a partition holding nothing but markers
// and aborted records there counts as caught up (lag 0). A partition that
// is behind counts its markers too: lag is an offset distance.
type LagMonitor struct {
	client *kgo.Client
	adm    *kadm.Client
	stages []Stage
	log    *slog.Logger

	lagDesc, ageDesc *prometheus.Desc

	mu   sync.Mutex
	last measurement
}

type measurement struct {
	lag map[partitionKey]int64
	age map[[2]string]float64
}

type partitionKey struct {
	group, topic string
	partition    int32
}

var _ prometheus.Collector = (*LagMonitor)(nil)

// NewLagMonitor returns a monitor for stages; client is a plain client (no
// group) that the caller closes.
func NewLagMonitor(client *kgo.Client, stages []Stage, log *slog.Logger) *LagMonitor {
	return &LagMonitor{
		client: client,
		adm:    kadm.NewClient(client),
		stages: stages,
		log:    log,
		lagDesc: prometheus.NewDesc("hookstream_consumer_lag_records",
			"Records a consumer group has yet to process, per partition (commit markers excluded).",
			[]string{"group", "topic", "partition"}, nil),
		ageDesc: prometheus.NewDesc("hookstream_consumer_oldest_unprocessed_age_seconds",
			"Age of the oldest record a group has yet to process (for retry tiers: how overdue it is); 0 when caught up.",
			[]string{"group", "topic"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (m *LagMonitor) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.lagDesc
	ch <- m.ageDesc
}

// Collect implements prometheus.Collector.
func (m *LagMonitor) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	last := m.last
	m.mu.Unlock()
	for k, v := range last.lag {
		ch <- prometheus.MustNewConstMetric(m.lagDesc, prometheus.GaugeValue, float64(v),
			k.group, k.topic, strconv.Itoa(int(k.partition)))
	}
	for k, v := range last.age {
		ch <- prometheus.MustNewConstMetric(m.ageDesc, prometheus.GaugeValue, v, k[0], k[1])
	}
}

// Run measures every interval until ctx ends.
func (m *LagMonitor) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := m.Measure(ctx); err != nil && ctx.Err() == nil {
			m.log.Warn("lag measurement failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// lag returns the last measured lag of a group's partition.
func (m *LagMonitor) lag(group, topic string, partition int32) (int64, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.last.lag[partitionKey{group, topic, partition}]
	return v, ok
}

// age returns the last measured age of a group's oldest unprocessed
// record.
func (m *LagMonitor) age(group, topic string) (float64, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.last.age[[2]string{group, topic}]
	return v, ok
}

// Measure takes one measurement.
func (m *LagMonitor) Measure(ctx context.Context) error {
	groups := make([]string, len(m.stages))
	byGroup := make(map[string]Stage, len(m.stages))
	topics := make([]string, 0, len(m.stages))
	for i, s := range m.stages {
		groups[i] = s.Group
		byGroup[s.Group] = s
		topics = append(topics, s.Topic)
	}
	meta, err := m.adm.Metadata(ctx, topics...)
	if err != nil {
		return fmt.Errorf("lag: metadata: %w", err)
	}
	commits := m.adm.FetchManyOffsets(ctx, groups...)
	for g, c := range commits {
		// A group that never committed does not exist yet: it will start
		// at the log start.
		if c.Err != nil && !errors.Is(c.Err, kerr.GroupIDNotFound) {
			return fmt.Errorf("lag: committed offsets of %s: %w", g, c.Err)
		}
	}
	starts, err := m.adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return fmt.Errorf("lag: start offsets: %w", err)
	}
	ends, err := m.adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return fmt.Errorf("lag: end offsets: %w", err)
	}
	now := time.Now()
	out := measurement{lag: map[partitionKey]int64{}, age: map[[2]string]float64{}}
	for _, st := range m.stages {
		k := [2]string{st.Group, st.Topic}
		out.age[k] = 0
		ends.Each(func(end kadm.ListedOffset) {
			if end.Topic != st.Topic || end.Err != nil {
				return
			}
			// A group without a commit starts at the log start.
			from := int64(-1)
			if c, ok := commits[st.Group].Fetched.Lookup(st.Topic, end.Partition); ok && c.Err == nil {
				from = c.At
			}
			if s, ok := starts.Lookup(st.Topic, end.Partition); ok && s.Err == nil && from < s.Offset {
				from = s.Offset // committed below the retained log, or nothing committed
			}
			if from < 0 {
				return
			}
			lag := max(0, end.Offset-from)
			if lag > 0 {
				first, caughtUp, err := m.first(ctx, meta, st.Topic, end.Partition, from, end.Offset)
				switch {
				case err != nil:
					m.log.Debug("lag probe failed", "topic", st.Topic, "partition", end.Partition, "err", err)
				case caughtUp:
					lag = 0
				case first != nil:
					since := first.Timestamp
					if st.Gate != nil {
						if due := st.Gate(first); !due.IsZero() {
							since = due
						}
					}
					out.age[k] = max(out.age[k], now.Sub(since).Seconds())
				}
			}
			out.lag[partitionKey{st.Group, st.Topic, end.Partition}] = lag
		})
	}
	m.mu.Lock()
	m.last = out
	m.mu.Unlock()
	return nil
}

// probeBytes bounds what a probe reads: enough for the first data record
// after a few commit markers.
const probeBytes = 256 << 10

// first reads the partition from offset from and returns its first data
// record, or caughtUp when only commit markers and aborted records lie
// between from and end.
func (m *LagMonitor) first(ctx context.Context, meta kadm.Metadata, topic string, partition int32, from, end int64) (*kgo.Record, bool, error) {
	td, ok := meta.Topics[topic]
	if !ok {
		return nil, false, fmt.Errorf("no metadata")
	}
	pd, ok := td.Partitions[partition]
	if !ok {
		return nil, false, fmt.Errorf("no metadata")
	}
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MaxBytes = probeBytes
	req.IsolationLevel = 1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, td.ID
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = partition, from, probeBytes
	rp.CurrentLeaderEpoch, rp.LogStartOffset = -1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, m.client.Broker(int(pd.Leader)))
	if err != nil {
		return nil, false, err
	}
	for _, t := range resp.Topics {
		for i := range t.Partitions {
			p := &t.Partitions[i]
			if p.Partition != partition {
				continue
			}
			fp, next := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{
				Offset: from, IsolationLevel: kgo.ReadCommitted(), Topic: topic, Partition: partition,
			}, p, kgo.DefaultDecompressor(), nil)
			if fp.Err != nil {
				return nil, false, fp.Err
			}
			if len(fp.Records) > 0 {
				return fp.Records[0], false, nil
			}
			return nil, next >= end, nil
		}
	}
	return nil, false, fmt.Errorf("partition missing from fetch response")
}
