package consumer

import "github.com/twmb/franz-go/pkg/kgo"

// tracker follows the records of one partition that are in flight, in
// offset order, to find its watermark: the offset to commit, below which
// every record is done.
type tracker struct {
	slots      []*slot // in offset order; done ones at the front are dropped
	unfinished int     // slots whose fn has not returned
	next       int64   // offset after the last record added
	epoch      int32   // leader epoch of the last record added
	committed  int64   // last watermark committed, -1 before the first
}

// maxTracked bounds the records a partition tracks, finished or not, behind
// its oldest unfinished one: a slot costs a few dozen bytes, so this allows
// for a slow record the time of many thousands of others.
const maxTracked = 1 << 16

type slot struct {
	offset   int64
	epoch    int32
	finished bool // fn returned
	done     bool // and its outputs are stored: it may be committed past
}

// add tracks a record; records come in offset order.
func (t *tracker) add(r *kgo.Record) *slot {
	s := &slot{offset: r.Offset, epoch: r.LeaderEpoch}
	t.slots = append(t.slots, s)
	t.unfinished++
	t.next, t.epoch = r.Offset+1, r.LeaderEpoch
	return s
}

// finish records that fn returned for s, done or not.
func (t *tracker) finish(s *slot, done bool) {
	s.finished, s.done = true, done
	t.unfinished--
	t.trim()
}

// pending counts the records whose fn has not returned.
func (t *tracker) pending() int { return t.unfinished }

// full reports whether the partition should pause: too many records in
// flight, or tracked behind a slow one.
func (t *tracker) full(inFlight int) bool {
	return t.unfinished >= inFlight || len(t.slots) >= maxTracked
}

// trim drops the done records at the front.
func (t *tracker) trim() {
	i := 0
	for i < len(t.slots) && t.slots[i].done {
		i++
	}
	if i > 0 {
		t.slots = t.slots[i:]
	}
}

// watermark returns the offset to commit: the first record not done, or
// after the last record when all are done. ok is false before any record.
func (t *tracker) watermark() (offset int64, epoch int32, ok bool) {
	t.trim()
	if len(t.slots) > 0 {
		return t.slots[0].offset, t.slots[0].epoch, true
	}
	return t.next, t.epoch, t.next > 0
}
