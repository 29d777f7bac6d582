package schema

import (
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

// QuarantineFilter selects quarantined records, newest first; empty fields
// match all. Before continues a listing after the last record of a page.
type QuarantineFilter struct {
	Stage  string
	Before *QuarantineCursor
	Limit  int
}

// QuarantineCursor is the position of a quarantined record in a listing.
type QuarantineCursor struct {
	At        time.Time
	Partition int32
	Offset    int64
}
