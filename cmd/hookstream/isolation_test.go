package main

import (
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"
)

// A slow endpoint does not hold up a healthy one on the same partition:
// while the slow one's requests hang, the healthy one gets every event.
func TestSlowEndpointDoesNotHoldUpOthers(t *testing.T) {
	s := startSystem(t, map[string]string{"HOOKSTREAM_TOPIC_PARTITIONS": "1", "HOOKSTREAM_ENDPOINT_CONCURRENCY": "2"})
	release := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	defer unblock()
	slow := newReceiver(t, func(int, *http.Request) int { <-release; return http.StatusOK })
	fast := newReceiver(t, nil)
	s.endpoint(slow.URL, "order.*")
	s.endpoint(fast.URL, "order.*")
	for i := 0; i < 20; i++ {
		s.publish("order.placed", `{"n":`+strconv.Itoa(i)+`}`)
	}
	fast.waitRequests(t, 20, 30*time.Second)
	if n := len(slow.requests()); n > 2 {
		t.Errorf("the slow endpoint has %d requests in flight, above its cap of 2", n)
	}
	unblock()
	slow.waitRequests(t, 20, 60*time.Second)
}

// Stopping hookstream while attempts are in flight and starting it again
// loses nothing: every delivery still arrives.
func TestRestartWithAttemptsInFlight(t *testing.T) {
	s := startSystem(t, map[string]string{"HOOKSTREAM_SHUTDOWN_GRACE": "100ms"})
	var (
		mu    sync.Mutex
		block = true
	)
	rcv := newReceiver(t, func(int, *http.Request) int {
		mu.Lock()
		b := block
		mu.Unlock()
		if b {
			time.Sleep(time.Second) // in flight when the stop comes
		}
		return http.StatusOK
	})
	ep := s.endpoint(rcv.URL, "order.*")
	for i := 0; i < 30; i++ {
		s.publish("order.placed", `{"n":`+strconv.Itoa(i)+`}`)
	}
	rcv.waitRequests(t, 1, 30*time.Second)
	s.restart()
	mu.Lock()
	block = false
	mu.Unlock()
	ds := s.waitStatus(ep.ID, 30, "succeeded", 60*time.Second)
	got := map[string]bool{}
	for _, r := range rcv.requests() {
		got[r.Header.Get("webhook-id")] = true
	}
	for _, d := range ds {
		if !got[d.ID] {
			t.Errorf("delivery %s recorded succeeded but never received", d.ID)
		}
	}
}
