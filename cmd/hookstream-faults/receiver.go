package main

import (
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
)

// receiver is the endpoints' side: one HTTP server, a path per endpoint.
// Endpoint k fails the first two attempts of every delivery when
// k%10 == 1 (flaky), and every attempt when k%25 == 3 (dead).
type receiver struct {
	srv  *http.Server
	addr string

	mu       sync.Mutex
	ok       map[string]int // webhook-id → 2xx answers
	attempts int

	// ordered makes every endpoint fail a quarter of all attempts, at
	// random, and keep the order in which it accepted the deliveries of
	// each ordering key (webhook-sequence).
	ordered  bool
	rng      *rand.Rand
	accepted map[orderKey][]int64
	// unnumbered counts 2xx answers to an ordered run without the
	// sequence headers.
	unnumbered int
}

// orderKey is one endpoint's ordering key.
type orderKey struct {
	endpoint int
	key      string
}

func flaky(k int) bool  { return k%10 == 1 }
func broken(k int) bool { return k%25 == 3 }

func newReceiver() (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	rc := &receiver{addr: ln.Addr().String(), ok: map[string]int{}, accepted: map[orderKey][]int64{}}
	rc.srv = &http.Server{Handler: http.HandlerFunc(rc.serve)}
	go rc.srv.Serve(ln) //nolint:errcheck // ends with Close
	return rc, nil
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	k, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/ep/"))
	attempt, _ := strconv.Atoi(r.Header.Get("X-Webhook-Attempt"))
	id := r.Header.Get("webhook-id")
	fail := broken(k) || (flaky(k) && attempt < 3)
	rc.mu.Lock()
	rc.attempts++
	if rc.ordered {
		fail = rc.rng.IntN(4) == 0
	}
	if !fail {
		rc.ok[id]++
		if rc.ordered {
			rc.accept(k, r)
		}
	}
	rc.mu.Unlock()
	if fail {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// accept records a 2xx answer of an ordered run; rc.mu is held.
func (rc *receiver) accept(k int, r *http.Request) {
	key, err := url.PathUnescape(r.Header.Get("webhook-ordering-key"))
	seq, err2 := strconv.ParseInt(r.Header.Get("webhook-sequence"), 10, 64)
	if err != nil || err2 != nil || key == "" || seq < 1 {
		rc.unnumbered++
		return
	}
	ok := orderKey{k, key}
	rc.accepted[ok] = append(rc.accepted[ok], seq)
}

// snapshot copies the 2xx counts.
func (rc *receiver) snapshot() (map[string]int, int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := make(map[string]int, len(rc.ok))
	for k, v := range rc.ok {
		out[k] = v
	}
	return out, rc.attempts
}

func (rc *receiver) close() { _ = rc.srv.Close() }
