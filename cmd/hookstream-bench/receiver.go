package main

import (
	"bytes"
	"cmp"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookstream/hookstream/delivery"
	"github.com/hookstream/hookstream/schema"
)

// target is what the receiver knows of one endpoint of a scenario.
type target struct {
	id     string // endpoint id, for the expected webhook-id
	tenant string // its tenant, for the same ("": the default tenant)
	key    []byte // HMAC key of its secret
	slow   bool   // answers only after slowDelay (or when the client gives up)
}

// expectation maps a delivery (endpoint index, event sequence number) to
// its slot in the tracker, or reports that it was not expected.
type expectation func(k, seq int) (slot int, ok bool)

// tracker records the deliveries of one scenario.
type tracker struct {
	targets   []target
	expect    expectation
	slots     int
	eventID   func(seq int) string
	slowDelay time.Duration

	counts []uint32 // arrivals per slot
	lat    []int64  // publish→arrival of the first arrival, ns
	pubAt  []int64  // unix ns at which the slot's event was published

	// groupOf puts slots in groups (e.g. tenants) counted apart; nil: no
	// groups.
	groupOf func(slot int) int
	groups  []groupCount

	unique     atomic.Int64
	dups       atomic.Int64
	unexpected atomic.Int64 // deliveries to endpoints or of events not expected
	badSig     atomic.Int64
	badID      atomic.Int64 // webhook-id not the stable delivery id
	slowHits   atomic.Int64 // requests to slow endpoints
	// orderViolations counts arrivals whose webhook-sequence is not above
	// the last one of their endpoint and key.
	orderViolations atomic.Int64
	orderMu         sync.Mutex
	lastSeq         map[orderSlot]int64
	first           atomic.Int64 // unix ns of the first expected arrival
	last            atomic.Int64 // unix ns of the latest expected arrival
}

type orderSlot struct {
	endpoint int
	key      string
}

// checkOrder records an arrival of an ordered endpoint.
func (t *tracker) checkOrder(k int, key, seqHeader string) {
	seq, err := strconv.ParseInt(seqHeader, 10, 64)
	if err != nil {
		t.orderViolations.Add(1)
		return
	}
	t.orderMu.Lock()
	defer t.orderMu.Unlock()
	if t.lastSeq == nil {
		t.lastSeq = map[orderSlot]int64{}
	}
	s := orderSlot{k, key}
	if seq <= t.lastSeq[s] {
		t.orderViolations.Add(1)
	}
	t.lastSeq[s] = max(t.lastSeq[s], seq)
}

// groupCount is the arrivals of one group of slots.
type groupCount struct {
	unique atomic.Int64
	first  atomic.Int64 // unix ns of its first arrival
	last   atomic.Int64 // unix ns of its latest arrival
}

func newTracker(targets []target, slots int, expect expectation, eventID func(int) string) *tracker {
	return &tracker{
		targets: targets, expect: expect, slots: slots, eventID: eventID,
		counts: make([]uint32, slots), lat: make([]int64, slots), pubAt: make([]int64, slots),
	}
}

// withGroups counts the slots of n groups apart, slot's group groupOf(slot).
func (t *tracker) withGroups(n int, groupOf func(slot int) int) {
	t.groups = make([]groupCount, n)
	t.groupOf = groupOf
}

// storeLatest raises a to now unless it is later already.
func storeLatest(a *atomic.Int64, now int64) {
	for {
		l := a.Load()
		if now <= l || a.CompareAndSwap(l, now) {
			return
		}
	}
}

func (t *tracker) record(k, seq int, pub, now int64) {
	slot, ok := t.expect(k, seq)
	if !ok || slot < 0 || slot >= t.slots {
		t.unexpected.Add(1)
		return
	}
	if atomic.AddUint32(&t.counts[slot], 1) > 1 {
		t.dups.Add(1)
		return
	}
	atomic.StoreInt64(&t.lat[slot], now-pub)
	atomic.StoreInt64(&t.pubAt[slot], pub)
	t.unique.Add(1)
	t.first.CompareAndSwap(0, now)
	storeLatest(&t.last, now)
	if t.groupOf != nil {
		g := &t.groups[t.groupOf(slot)]
		g.unique.Add(1)
		g.first.CompareAndSwap(0, now)
		storeLatest(&g.last, now)
	}
}

// latencies returns publish→arrival of every delivery that arrived.
func (t *tracker) latencies() []time.Duration {
	out := make([]time.Duration, 0, t.unique.Load())
	for i := range t.counts {
		if atomic.LoadUint32(&t.counts[i]) > 0 {
			out = append(out, time.Duration(atomic.LoadInt64(&t.lat[i])))
		}
	}
	return out
}

// latenciesOf returns publish→arrival of the deliveries that arrived of
// the slots for which keep(slot, published) holds.
func (t *tracker) latenciesOf(keep func(slot int, published time.Time) bool) []time.Duration {
	var out []time.Duration
	for i := range t.counts {
		if atomic.LoadUint32(&t.counts[i]) > 0 && keep(i, time.Unix(0, atomic.LoadInt64(&t.pubAt[i]))) {
			out = append(out, time.Duration(atomic.LoadInt64(&t.lat[i])))
		}
	}
	return out
}

// receiver is the fast local webhook receiver: it verifies each request's
// signature and webhook-id, records its arrival in the current tracker and
// answers 200 at once (after slowDelay for slow endpoints).
type receiver struct {
	srv  *http.Server
	ln   net.Listener
	cur  atomic.Pointer[tracker]
	raw  atomic.Int64 // requests to /raw (the ceiling measurement)
	bufs sync.Pool
}

// rawKey signs the requests of the raw ceiling client.
var rawKey = bytes.Repeat([]byte{0x42}, 32)

func startReceiver() (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &receiver{ln: ln}
	r.bufs.New = func() any { return new(bytes.Buffer) }
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

func (r *receiver) addr() string { return r.ln.Addr().String() }

func (r *receiver) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = r.srv.Shutdown(ctx)
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	now := time.Now().UnixNano()
	buf := r.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer r.bufs.Put(buf)
	if _, err := io.Copy(buf, req.Body); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	body := buf.Bytes()
	id := req.Header.Get(delivery.HeaderID)
	if req.URL.Path == "/raw" {
		if !verify(req.Header, id, body, rawKey) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if _, _, ok := parseBody(body); !ok {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		r.raw.Add(1)
		w.WriteHeader(http.StatusOK)
		return
	}
	t := r.cur.Load()
	k, err := strconv.Atoi(strings.TrimPrefix(req.URL.Path, "/e/"))
	if t == nil || err != nil || k < 0 || k >= len(t.targets) {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	tg := t.targets[k]
	if tg.slow {
		t.slowHits.Add(1)
		select {
		case <-time.After(t.slowDelay):
		case <-req.Context().Done():
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	if !verify(req.Header, id, body, tg.key) {
		t.badSig.Add(1)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	seq, pub, ok := parseBody(body)
	if !ok {
		t.unexpected.Add(1)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if id != schema.DeliveryID(cmp.Or(tg.tenant, schema.DefaultTenant), t.eventID(seq), tg.id) {
		t.badID.Add(1)
	}
	if sq := req.Header.Get(delivery.HeaderSequence); sq != "" {
		t.checkOrder(k, req.Header.Get(delivery.HeaderOrderingKey), sq)
	}
	t.record(k, seq, pub, now)
	w.WriteHeader(http.StatusOK)
}

// verify checks a Standard Webhooks signature: one of the space-separated
// "v1,<base64>" values of webhook-signature must be the HMAC of
// id.timestamp.body under key.
func verify(h http.Header, id string, body, key []byte) bool {
	ts, err := strconv.ParseInt(h.Get(delivery.HeaderTimestamp), 10, 64)
	if err != nil || id == "" {
		return false
	}
	want := delivery.Sign(id, time.Unix(ts, 0), body, delivery.HMACKey(key))
	for sig := range strings.FieldsSeq(h.Get(delivery.HeaderSignature)) {
		if sig == want {
			return true
		}
	}
	return false
}

// eventBody is the data of a bench event: its sequence number, the unix
// nanoseconds at which it was handed to the Kafka producer, and padding.
func eventBody(seq int, pub int64, pad string) []byte {
	b := make([]byte, 0, 48+len(pad))
	b = append(b, `{"seq":`...)
	b = strconv.AppendInt(b, int64(seq), 10)
	b = append(b, `,"pub":`...)
	b = strconv.AppendInt(b, pub, 10)
	b = append(b, `,"pad":"`...)
	b = append(b, pad...)
	return append(b, `"}`...)
}

// parseBody reads what eventBody wrote, without a JSON decoder.
func parseBody(b []byte) (seq int, pub int64, ok bool) {
	num := func(prefix string) (int64, bool) {
		var found bool
		if b, found = bytes.CutPrefix(b, []byte(prefix)); !found {
			return 0, false
		}
		i := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		n, err := strconv.ParseInt(string(b[:i]), 10, 64)
		b = b[i:]
		return n, err == nil
	}
	s, ok1 := num(`{"seq":`)
	p, ok2 := num(`,"pub":`)
	return int(s), p, ok1 && ok2
}
