package consumer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// A hanging transaction is one its coordinator has finished (committed or
// aborted) while some partition it wrote to never got the marker. Kafka
// can leave one behind: a broker that stops gracefully while a commit is
// under way skips the markers of the partitions it led alone, taking them
// for deleted. Such a partition stays open for good. Read-committed
// consumers stop at it, and when it is the group's offsets partition,
// every member that joins waits for UNSTABLE_OFFSET_COMMIT to clear,
// which it never does. Nothing moves, and no timeout ends it.
//
// The cure is Kafka's own (kafka-transactions.sh abort, KIP-664): write
// the missing marker, with the outcome the coordinator decided. RunTransform
// looks for hanging transactions of its own transactional id when a
// session starts and then every TransactionTimeout.

// offsetsTopic is where groups' offsets, transactional ones too, live.
const offsetsTopic = "__consumer_offsets"

// hangingMarkers returns the markers that close the hanging transactions of
// txn: open transactions of its producer on the described partitions
// although its coordinator has finished. A partition's open transaction is
// hanging when its producer epoch is behind the coordinator's (transactions
// of Kafka 4's protocol bump the epoch at every commit), or when it has
// been open for longer than stale (older brokers keep the epoch).
func hangingMarkers(txn kadm.DescribedTransaction, producers kadm.DescribedProducersTopics, now time.Time, stale time.Duration) []kadm.TxnMarkers {
	var commit bool
	switch txn.State {
	case "CompleteCommit":
		commit = true
	case "CompleteAbort":
	default:
		// Ongoing or preparing: the coordinator is still at work. Empty:
		// the outcome of the last transaction is no longer known.
		return nil
	}
	var markers []kadm.TxnMarkers
	producers.EachPartition(func(p kadm.DescribedProducersPartition) {
		for _, pr := range p.ActiveProducers {
			if pr.ProducerID != txn.ProducerID || pr.CurrentTxnStartOffset < 0 {
				continue
			}
			behind := pr.ProducerEpoch < txn.ProducerEpoch
			old := now.Sub(time.UnixMilli(pr.LastTimestamp)) > stale
			if !behind && !old {
				continue
			}
			markers = append(markers, kadm.TxnMarkers{
				ProducerID:       pr.ProducerID,
				ProducerEpoch:    pr.ProducerEpoch,
				Commit:           commit,
				CoordinatorEpoch: max(0, pr.CoordinatorEpoch),
				Topics:           kadm.TopicsSet{p.Topic: {p.Partition: {}}},
			})
		}
	})
	return markers
}

// repairHanging closes the hanging transactions of cfg's transactional id
// on its output topics and on the offsets topic, and returns how many
// partitions it closed.
func repairHanging(ctx context.Context, adm *kadm.Client, cfg *Config) (int, error) {
	txns, err := adm.DescribeTransactions(ctx, cfg.TransactionalID)
	if err != nil {
		return 0, err
	}
	txn, ok := txns[cfg.TransactionalID]
	if !ok || errors.Is(txn.Err, kerr.TransactionalIDNotFound) {
		return 0, nil // never used: nothing can hang
	}
	if txn.Err != nil {
		return 0, txn.Err
	}
	if txn.State != "CompleteCommit" && txn.State != "CompleteAbort" {
		return 0, nil
	}
	topics := kadm.TopicsSet{offsetsTopic: nil}
	for _, t := range cfg.Outputs {
		topics[t] = nil
	}
	producers, err := adm.DescribeProducers(ctx, topics)
	if err != nil {
		return 0, err
	}
	var errs []error
	producers.EachPartition(func(p kadm.DescribedProducersPartition) {
		if isAuthErr(p.Err) {
			errs = append(errs, fmt.Errorf("describe producers of %s/%d: %w", p.Topic, p.Partition, p.Err))
		}
	})
	markers := hangingMarkers(txn, producers, time.Now(), 2*cfg.TransactionTimeout+time.Minute)
	if len(markers) == 0 {
		return 0, errors.Join(errs...)
	}
	resps, err := adm.WriteTxnMarkers(ctx, markers...)
	if err != nil {
		return 0, errors.Join(append(errs, err)...)
	}
	closed := 0
	resps.EachPartition(func(p kadm.TxnMarkersPartitionResponse) {
		if p.Err != nil {
			errs = append(errs, fmt.Errorf("%s/%d: %w", p.Topic, p.Partition, p.Err))
			return
		}
		closed++
	})
	return closed, errors.Join(errs...)
}

// watchHanging looks for hanging transactions at once and then every
// interval, until ctx ends or the cluster denies it the permissions. Most
// looks cost one request: while the transactional id is in a transaction,
// nothing of it can hang.
func watchHanging(ctx context.Context, adm *kadm.Client, cfg *Config, interval time.Duration) {
	for ctx.Err() == nil {
		rctx, cancel := context.WithTimeout(ctx, interval)
		closed, err := repairHanging(rctx, adm, cfg)
		cancel()
		if closed > 0 {
			cfg.Log.Warn("closed a hanging transaction: Kafka had left partitions of a finished transaction without their marker",
				"group", cfg.Group, "transactional_id", cfg.TransactionalID, "partitions", closed)
		}
		switch {
		case err == nil || ctx.Err() != nil:
		case isAuthErr(err):
			cfg.Log.Error("cannot look for hanging transactions: it needs Describe on the transactional id, "+
				"Read on the output topics and __consumer_offsets, and ClusterAction; "+
				"close them by hand with kafka-transactions.sh find-hanging and abort",
				"group", cfg.Group, "transactional_id", cfg.TransactionalID, "err", err)
			return
		default:
			cfg.Log.Warn("looking for hanging transactions failed; will try again",
				"group", cfg.Group, "transactional_id", cfg.TransactionalID, "err", err)
		}
		backoff(ctx, interval)
	}
}

// isAuthErr reports whether err is the cluster refusing a permission.
func isAuthErr(err error) bool {
	var ae *kadm.AuthError
	return errors.As(err, &ae) ||
		errors.Is(err, kerr.ClusterAuthorizationFailed) ||
		errors.Is(err, kerr.TopicAuthorizationFailed) ||
		errors.Is(err, kerr.TransactionalIDAuthorizationFailed)
}
