package main

import (
	"net"
	"net/http"
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
}

func flaky(k int) bool  { return k%10 == 1 }
func broken(k int) bool { return k%25 == 3 }

func newReceiver() (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	rc := &receiver{addr: ln.Addr().String(), ok: map[string]int{}}
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
	if !fail {
		rc.ok[id]++
	}
	rc.mu.Unlock()
	if fail {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusNoContent)
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
