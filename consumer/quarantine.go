package consumer

import (
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ErrPoison marks the failure of a record that can never be handled, however
// often it is tried: a record that does not decode, that breaks a rule, or
// that its store refuses as data (not as an outage). A stage returns it
// (wrapped by Poison) so that the loop isolates the record, moves it to the
// quarantine topic and goes on with the others. Every other error is taken
// for an outage: the loop waits and tries the same records again, losing
// nothing.
var ErrPoison = errors.New("poison record")

// ErrSplit is returned by a TransformFunc for a batch too big for one
// transaction (a huge fan-out): RunTransform reads it again in halves,
// without waiting, down to one record, which it hands over whatever its
// size.
var ErrSplit = errors.New("batch too big for one transaction")

// Poison marks err as the failure of a poison record: errors.Is(err,
// ErrPoison) holds for what it returns, and its message is err's.
func Poison(err error) error {
	if err == nil || errors.Is(err, ErrPoison) {
		return err
	}
	return poisonError{err}
}

type poisonError struct{ err error }

func (e poisonError) Error() string { return e.err.Error() }
func (e poisonError) Unwrap() []error {
	return []error{e.err, ErrPoison}
}

// IsPoison reports whether err marks a poison record: a stage said so, or
// the broker refused the record's outputs for what they are (too large,
// malformed), which no retry changes.
func IsPoison(err error) bool {
	return errors.Is(err, ErrPoison) ||
		errors.Is(err, kerr.MessageTooLarge) ||
		errors.Is(err, kerr.RecordListTooLarge) ||
		errors.Is(err, kerr.InvalidRecord) ||
		errors.Is(err, kerr.CorruptMessage) ||
		errors.Is(err, kerr.InvalidTimestamp)
}

// Headers of a quarantined record, after the original record's own.
const (
	// HeaderQuarantineStage names the consumer group that gave up on the
	// record.
	HeaderQuarantineStage = "hookstream-quarantine-stage"
	// HeaderQuarantineReason says why.
	HeaderQuarantineReason = "hookstream-quarantine-reason"
	// HeaderQuarantineTopic, HeaderQuarantinePartition and
	// HeaderQuarantineOffset name the record's original position, where a
	// re-drive puts it back.
	HeaderQuarantineTopic     = "hookstream-quarantine-topic"
	HeaderQuarantinePartition = "hookstream-quarantine-partition"
	HeaderQuarantineOffset    = "hookstream-quarantine-offset"
	// HeaderQuarantineAt is when, in unix milliseconds.
	HeaderQuarantineAt = "hookstream-quarantine-at"
)

// maxReason bounds the reason kept in a quarantine header.
const maxReason = 1024

// quarantineRecord is r as the quarantine topic keeps it: key, value and
// headers unchanged (any earlier quarantine headers dropped), then where it
// came from, which stage gave up on it and why.
func quarantineRecord(topic, stage string, r *kgo.Record, reason error, now time.Time) *kgo.Record {
	out := &kgo.Record{Topic: topic, Key: r.Key, Value: r.Value}
	for _, h := range r.Headers {
		if !strings.HasPrefix(h.Key, "hookstream-quarantine-") {
			out.Headers = append(out.Headers, h)
		}
	}
	out.Headers = append(out.Headers,
		kgo.RecordHeader{Key: HeaderQuarantineStage, Value: []byte(stage)},
		kgo.RecordHeader{Key: HeaderQuarantineReason, Value: []byte(cleanReason(reason.Error()))},
		kgo.RecordHeader{Key: HeaderQuarantineTopic, Value: []byte(r.Topic)},
		kgo.RecordHeader{Key: HeaderQuarantinePartition, Value: []byte(strconv.Itoa(int(r.Partition)))},
		kgo.RecordHeader{Key: HeaderQuarantineOffset, Value: []byte(strconv.FormatInt(r.Offset, 10))},
		kgo.RecordHeader{Key: HeaderQuarantineAt, Value: []byte(strconv.FormatInt(now.UnixMilli(), 10))},
	)
	return out
}

// cleanReason makes an error text safe to keep and show: valid UTF-8,
// without control characters, at most 1 KiB.
func cleanReason(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > maxReason {
		cut := maxReason
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// quarantined logs and reports a record moved to the quarantine topic.
func (c *Config) quarantined(r *kgo.Record, reason error) {
	c.Log.Error("poison record quarantined", "group", c.Group, "topic", r.Topic, "partition", r.Partition,
		"offset", r.Offset, "quarantine", c.Quarantine, "reason", cleanReason(reason.Error()))
	if c.OnQuarantine != nil {
		c.OnQuarantine(r, reason)
	}
}

// guard runs fn, turning a panic into a poison error: a record that makes a
// stage panic would otherwise crash every process that reads it, again and
// again. The stack goes to the log.
func guard(log interface{ Error(string, ...any) }, group string, fn func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			log.Error("stage panicked; treating the records as poison", "group", group, "panic", fmt.Sprint(v),
				"stack", string(debug.Stack()))
			err = Poison(fmt.Errorf("panic: %v", v))
		}
	}()
	return fn()
}

// source names a record's position: topic/partition/offset.
func source(r *kgo.Record) string {
	return r.Topic + "/" + strconv.Itoa(int(r.Partition)) + "/" + strconv.FormatInt(r.Offset, 10)
}
