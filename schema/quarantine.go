package schema

import (
	"errors"
	"time"
)

// Quarantined is a poison record as the quarantine topic holds it: a record
// a stage gave up on, where it came from, and why.
type Quarantined struct {
	// Partition and Offset place the record in the quarantine topic; they
	// identify it.
	Partition int32
	Offset    int64
	// Stage is the consumer group that gave up on it.
	Stage  string
	Reason string
	// Topic, SourcePartition and SourceOffset are where it was read.
	Topic           string
	SourcePartition int32
	SourceOffset    int64
	At              time.Time
	Key, Value      []byte
	// Headers are the record's own (without the quarantine's).
	Headers []Header
	// RedrivenAt is when it was put back, if it was.
	RedrivenAt *time.Time
}

// Header is a Kafka record header.
type Header struct {
	Key   string `json:"key"`
	Value []byte `json:"value"`
}

// ErrNotRedrivable is returned for a quarantined record whose original topic
// is not one a stage of this deployment reads: it has nowhere to go back to.
var ErrNotRedrivable = errors.New("the record did not come from a topic this deployment's stages read")
