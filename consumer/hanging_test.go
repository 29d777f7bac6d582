package consumer

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/internal/testenv"
)

// described builds DescribeProducers output: one partition per producer.
func described(prs ...kadm.DescribedProducer) kadm.DescribedProducersTopics {
	ts := kadm.DescribedProducersTopics{}
	for _, pr := range prs {
		t, ok := ts[pr.Topic]
		if !ok {
			t = kadm.DescribedProducersTopic{Topic: pr.Topic, Partitions: kadm.DescribedProducersPartitions{}}
			ts[pr.Topic] = t
		}
		p := t.Partitions[pr.Partition]
		p.Topic, p.Partition = pr.Topic, pr.Partition
		if p.ActiveProducers == nil {
			p.ActiveProducers = kadm.DescribedProducers{}
		}
		p.ActiveProducers[pr.ProducerID] = pr
		t.Partitions[pr.Partition] = p
	}
	return ts
}

func TestHangingMarkers(t *testing.T) {
	// The state a graceful stop of a one-node Kafka 4.4 left behind in a
	// fault run: the coordinator had committed (epoch 4 → 5), the offsets
	// partition and two output partitions still held epoch 4 open.
	txn := kadm.DescribedTransaction{TxnID: "g.main", State: "CompleteCommit", ProducerID: 5023, ProducerEpoch: 5}
	hung := described(
		kadm.DescribedProducer{Topic: "__consumer_offsets", Partition: 3, ProducerID: 5023, ProducerEpoch: 4, CoordinatorEpoch: 10, CurrentTxnStartOffset: 3780},
		kadm.DescribedProducer{Topic: "out", Partition: 0, ProducerID: 5023, ProducerEpoch: 4, CoordinatorEpoch: 10, CurrentTxnStartOffset: 24},
		kadm.DescribedProducer{Topic: "out", Partition: 1, ProducerID: 5023, ProducerEpoch: 4, CoordinatorEpoch: -1, CurrentTxnStartOffset: 7},
		// Not ours, nothing open, or open at the current epoch (the next
		// transaction): left alone.
		kadm.DescribedProducer{Topic: "out", Partition: 2, ProducerID: 77, ProducerEpoch: 0, CurrentTxnStartOffset: 3},
		kadm.DescribedProducer{Topic: "out", Partition: 3, ProducerID: 5023, ProducerEpoch: 4, CurrentTxnStartOffset: -1},
		kadm.DescribedProducer{Topic: "out", Partition: 4, ProducerID: 5023, ProducerEpoch: 5, CurrentTxnStartOffset: 9},
		// An older transaction than the coordinator's last: its outcome is
		// not known, so it is reported and not closed.
		kadm.DescribedProducer{Topic: "out", Partition: 5, ProducerID: 5023, ProducerEpoch: 2, CurrentTxnStartOffset: 11},
	)
	ms, unknown := hangingMarkers(txn, hung)
	got := map[string]kadm.TxnMarkers{}
	for _, m := range ms {
		for topic, ps := range m.Topics {
			for p := range ps {
				got[topic+"/"+string(rune('0'+p))] = m
			}
		}
	}
	if len(ms) != 3 || len(got) != 3 {
		t.Fatalf("markers for %v, want __consumer_offsets/3, out/0 and out/1", got)
	}
	for k, m := range got {
		if !m.Commit || m.ProducerID != 5023 || m.ProducerEpoch != 4 {
			t.Errorf("%s: %+v, want a commit marker of producer 5023 at its epoch 4", k, m)
		}
	}
	if m := got["__consumer_offsets/3"]; m.CoordinatorEpoch != 10 {
		t.Errorf("coordinator epoch %d, want the partition's 10", m.CoordinatorEpoch)
	}
	if m := got["out/1"]; m.CoordinatorEpoch != 0 {
		t.Errorf("coordinator epoch %d for a partition that never had a marker, want 0", m.CoordinatorEpoch)
	}
	if len(unknown) != 1 || !strings.HasPrefix(unknown[0], "out/5 ") {
		t.Errorf("unknown outcome: %v, want out/5 alone", unknown)
	}

	// The coordinator aborted: so do the markers.
	aborted := txn
	aborted.State = "CompleteAbort"
	ms, _ = hangingMarkers(aborted, hung)
	for _, m := range ms {
		if m.Commit {
			t.Fatalf("after CompleteAbort: %+v, want abort markers", m)
		}
	}

	// While the coordinator is at work, or no longer knows the outcome,
	// nothing hangs.
	for _, state := range []string{"Ongoing", "PrepareCommit", "PrepareAbort", "Empty", "PrepareEpochFence", "Dead"} {
		busy := txn
		busy.State = state
		if ms, unknown := hangingMarkers(busy, hung); len(ms) != 0 || len(unknown) != 0 {
			t.Errorf("state %s: %d markers, %d unknown; want none", state, len(ms), len(unknown))
		}
	}
}

// The look for hanging transactions must never touch a live one: on a
// broker (kfake, or the real one of make test-kafka), neither an open
// transaction nor a committed one is taken for hanging.
func TestRepairHangingLeavesHealthyTransactions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	brokers := testenv.Brokers(t)
	out := testenv.Name("hang-out-")
	topic(t, brokers, out, 3)
	cfg := &Config{TransactionalID: testenv.Name("hang-txn-"), Outputs: []string{out}, TransactionTimeout: 20 * time.Second}
	cfg.defaults()

	admCl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	testenv.Must(t, err, "admin client")
	defer admCl.Close()
	adm := kadm.NewClient(admCl)

	closed, err := repairHanging(ctx, adm, cfg)
	if err != nil || closed != 0 {
		t.Fatalf("unused transactional id: closed %d, err %v; want 0, nil", closed, err)
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.TransactionalID(cfg.TransactionalID),
		kgo.TransactionTimeout(cfg.TransactionTimeout), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	testenv.Must(t, err, "transactional client")
	defer cl.Close()
	for round := 0; round < 2; round++ {
		testenv.Must(t, cl.BeginTransaction(), "begin")
		for p := int32(0); p < 3; p++ {
			testenv.Must(t, cl.ProduceSync(ctx, &kgo.Record{Topic: out, Partition: p, Value: []byte("v")}).FirstErr(), "produce")
		}
		// Open: the coordinator is in the transaction.
		closed, err := repairHanging(ctx, adm, cfg)
		if err != nil || closed != 0 {
			t.Fatalf("round %d, open transaction: closed %d, err %v; want 0, nil", round, closed, err)
		}
		testenv.Must(t, cl.EndTransaction(ctx, kgo.TryCommit), "commit")
		closed, err = repairHanging(ctx, adm, cfg)
		if err != nil || closed != 0 {
			t.Fatalf("round %d, committed transaction: closed %d, err %v; want 0, nil", round, closed, err)
		}
	}
}
