package pipeline

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/hookstream/hookstream/schema"
)

// Tasks of a key wait in memory, lowest number first, for the earlier one
// in flight; but one endpoint's tasks waiting in memory are bounded, all
// keys together, so that an ordered endpoint that answers slowly cannot
// fill its partition's records in flight: past the bound they go on at
// once (to the gate, which blocks them in Postgres).
func TestKeyTurnsWaitInOrderWithinBounds(t *testing.T) {
	var k keyTurns
	ctx := context.Background()
	heads := map[string]func(){}
	for i := range maxEndpointWaiters + 2 {
		key := "k" + strconv.Itoa(i)
		heads[key] = k.wait(ctx, "ep", &schema.TaskOrder{Key: key, Seq: 1}) // nobody earlier: goes at once
	}
	// One waiter per key, up to the endpoint's bound.
	waiting := make(chan string, 2*maxEndpointWaiters)
	for i := range maxEndpointWaiters {
		key := "k" + strconv.Itoa(i)
		go func() {
			done := k.wait(ctx, "ep", &schema.TaskOrder{Key: key, Seq: 2})
			waiting <- key
			done()
		}()
	}
	// Wait until they all wait (the table counts them).
	deadline := time.Now().Add(10 * time.Second)
	for {
		k.mu.Lock()
		n := k.waiting["ep"]
		k.mu.Unlock()
		if n == maxEndpointWaiters {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d tasks wait, want %d", n, maxEndpointWaiters)
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case key := <-waiting:
		t.Fatalf("%s's second task went on while its first was in flight", key)
	default:
	}
	// Past the bound, a task of another key does not wait.
	over := make(chan struct{})
	go func() {
		k.wait(ctx, "ep", &schema.TaskOrder{Key: "k" + strconv.Itoa(maxEndpointWaiters), Seq: 2})()
		close(over)
	}()
	select {
	case <-over:
	case <-time.After(10 * time.Second):
		t.Fatal("a task past the endpoint's bound waited")
	}
	// Another endpoint is not bounded by this one's waiters.
	other := k.wait(ctx, "ep2", &schema.TaskOrder{Key: "k0", Seq: 1})
	other()
	// The first task of k0 ends: its second goes on.
	heads["k0"]()
	select {
	case key := <-waiting:
		if key != "k0" {
			t.Fatalf("%s went on when k0's first task ended", key)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("k0's second task did not go on when its first ended")
	}
}
