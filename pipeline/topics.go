// Package pipeline holds hookstream's stages: the dispatcher (events →
// delivery tasks), the deliverer and the retry tiers (tasks → HTTP attempts
// → outcomes, next tiers, dead letters), and the sink (outcomes →
// Postgres). Each stage is a function over a batch of Kafka records, run by
// package consumer; the stages own the rules, not the machinery.
//
// What a stage needs from the outside (the dedupe gate, the endpoint table,
// the HTTP sender, the store) it names as a small interface here; cmd wires
// the adapters in.
package pipeline

import (
	"strings"
	"time"

	"github.com/hookstream/hookstream/delivery"
)

// Topics names the topics and consumer groups of one hookstream deployment.
// Every name carries the prefix (default "hookstream."), so that several
// deployments can share a cluster.
type Topics struct {
	Prefix   string
	Schedule delivery.Schedule
}

// Events is the topic services publish to.
func (t Topics) Events() string { return t.Prefix + "events" }

// EventsBulk is the bulk lane of events: the dispatcher forwards there,
// unclaimed, the events of a tenant past its share of the fast lane, and
// the bulk dispatcher fans them out into Bulk.
func (t Topics) EventsBulk() string { return t.Prefix + "events.bulk" }

// Invalid receives records of the events topic that are not valid events.
func (t Topics) Invalid() string { return t.Prefix + "events.invalid" }

// Deliveries carries first-attempt tasks, keyed by endpoint id.
func (t Topics) Deliveries() string { return t.Prefix + "deliveries" }

// Bulk is the second lane of first-attempt tasks: those of the events in
// EventsBulk, so that one tenant's backlog waits there rather than in front
// of every other tenant's tasks.
func (t Topics) Bulk() string { return t.Prefix + "deliveries.bulk" }

// Released carries the tasks of ordered deliveries released once the
// earlier delivery of their key was resolved (docs/ordering.md), keyed by
// endpoint id: a topic of its own, so that a key's next delivery does not
// wait behind the backlog of the deliveries topic.
func (t Topics) Released() string { return t.Prefix + "deliveries.ordered" }

// Attempts carries attempt outcomes, keyed by endpoint id.
func (t Topics) Attempts() string { return t.Prefix + "attempts" }

// Dead receives tasks whose retries are exhausted.
func (t Topics) Dead() string { return t.Prefix + "dead" }

// Quarantine receives poison records of every stage: records that can never
// be handled, with headers naming the stage, the reason and their original
// topic, partition and offset (see consumer.ErrPoison).
func (t Topics) Quarantine() string { return t.Prefix + "quarantine" }

// Retry is the topic of retry tier i (0-based), e.g. "hookstream.retry.1m".
func (t Topics) Retry(i int) string { return t.Prefix + "retry." + delivery.TierName(t.Schedule[i]) }

// All lists every topic, for creating them at start-up.
func (t Topics) All() []string {
	all := []string{t.Events(), t.EventsBulk(), t.Invalid(), t.Deliveries(), t.Bulk(), t.Released(), t.Attempts(), t.Dead(), t.Quarantine()}
	for i := range t.Schedule {
		all = append(all, t.Retry(i))
	}
	return all
}

// Group names a stage's consumer group: "hookstream-dispatch" under the
// default prefix.
func (t Topics) Group(stage string) string {
	return strings.TrimSuffix(t.Prefix, ".") + "-" + stage
}

// RetryGroup is the consumer group of retry tier i.
func (t Topics) RetryGroup(i int) string {
	return t.Group("retry-" + delivery.TierName(t.Schedule[i]))
}

// Delay returns tier i's delay.
func (t Topics) Delay(i int) time.Duration { return t.Schedule[i] }
