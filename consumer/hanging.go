package consumer

import (
	"context"
	"errors"
	"fmt"
	"strings"
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
// the missing marker, with the outcome the coordinator decided, for the
// transactions whose outcome is certain (hangingMarkers). RunTransform looks
// for hanging transactions of its own transactional id when a session
// starts and then every TransactionTimeout.

// offsetsTopic is where groups' offsets, transactional ones too, live.
const offsetsTopic = "__consumer_offsets"

// hangingMarkers sorts the open transactions of txn's producer on the
// described partitions, while its coordinator has finished, into those it
// can close and those it cannot.
//
// It closes one only when its outcome is certain: the transaction is the
// coordinator's last one. Transactions of Kafka 4's protocol bump the
// producer epoch when they end, so the last one left its partitions open
// at the epoch just below the coordinator's, and its outcome is the
// coordinator's state. An older epoch, or an open transaction at the
// coordinator's own epoch (older brokers do not bump it), belongs to a
// transaction whose outcome is no longer known: it is reported, for an
// operator to decide, because the wrong marker would drop committed tasks
// or send aborted ones.
func hangingMarkers(txn kadm.DescribedTransaction, producers kadm.DescribedProducersTopics) (closable []kadm.TxnMarkers, unknown []string) {
	var commit bool
	switch txn.State {
	case "CompleteCommit":
		commit = true
	case "CompleteAbort":
	default:
		// Ongoing or preparing: the coordinator is still at work. Empty:
		// the outcome of the last transaction is no longer known.
		return nil, nil
	}
	producers.EachPartition(func(p kadm.DescribedProducersPartition) {
		for _, pr := range p.ActiveProducers {
			if pr.ProducerID != txn.ProducerID || pr.CurrentTxnStartOffset < 0 {
				continue
			}
			switch {
			case pr.ProducerEpoch == txn.ProducerEpoch-1:
				closable = append(closable, kadm.TxnMarkers{
					ProducerID:       pr.ProducerID,
					ProducerEpoch:    pr.ProducerEpoch,
					Commit:           commit,
					CoordinatorEpoch: max(0, pr.CoordinatorEpoch),
					Topics:           kadm.TopicsSet{p.Topic: {p.Partition: {}}},
				})
			case pr.ProducerEpoch < txn.ProducerEpoch-1:
				unknown = append(unknown, fmt.Sprintf("%s/%d (producer %d, epoch %d, since offset %d)",
					p.Topic, p.Partition, pr.ProducerID, pr.ProducerEpoch, pr.CurrentTxnStartOffset))
			}
			// At the coordinator's epoch: the next transaction, or a
			// hanging one of an older broker, which cannot be told apart.
		}
	})
	return closable, unknown
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
	markers, unknown := hangingMarkers(txn, producers)
	if len(unknown) > 0 {
		errs = append(errs, &unknownOutcomeError{partitions: unknown})
	}
	if len(markers) == 0 {
		return 0, errors.Join(errs...)
	}
	// The coordinator must still be where it was: a marker is only right
	// for the transaction it was chosen for.
	again, err := adm.DescribeTransactions(ctx, cfg.TransactionalID)
	if err != nil {
		return 0, errors.Join(append(errs, err)...)
	}
	if now := again[cfg.TransactionalID]; now.Err != nil || now.State != txn.State || now.ProducerID != txn.ProducerID ||
		now.ProducerEpoch != txn.ProducerEpoch {
		return 0, errors.Join(errs...) // moved on: look again next time
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

// unknownOutcomeError names hanging partitions whose outcome is not known.
type unknownOutcomeError struct{ partitions []string }

func (e *unknownOutcomeError) Error() string {
	return "hanging transactions of unknown outcome on " + strings.Join(e.partitions, ", ")
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
		var unknown *unknownOutcomeError
		switch {
		case err == nil || ctx.Err() != nil:
		case errors.As(err, &unknown):
			cfg.Log.Error("hanging transactions whose outcome hookstream cannot know: readers of these partitions "+
				"are stuck until an operator ends them (kafka-transactions.sh find-hanging, then abort if the batch "+
				"was read again, or see docs/reliability.md)",
				"group", cfg.Group, "transactional_id", cfg.TransactionalID, "err", err)
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
