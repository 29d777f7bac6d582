package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

const allRoles = "dispatch,deliver,retry,sink"

// publishing publishes in the background and returns a wait function.
func (r *runner) publishing(ctx context.Context, spread time.Duration, extra func(i int) []*kgo.Record) func() error {
	errc := make(chan error, 1)
	go func() { errc <- r.publish(ctx, spread, extra) }()
	return func() error { return <-errc }
}

// pause sleeps a random time in [lo, hi) from the run's seeded source.
func (r *runner) pause(ctx context.Context, lo, hi time.Duration) {
	d := lo + time.Duration(r.rng.Int64N(int64(hi-lo)))
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func killAll(ctx context.Context, r *runner) error {
	if err := r.start("main", allRoles); err != nil {
		return err
	}
	wait := r.publishing(ctx, 20*time.Second, nil)
	for k := 0; k < 4; k++ {
		r.pause(ctx, 2*time.Second, 5*time.Second)
		r.kill("main")
		r.pause(ctx, 100*time.Millisecond, time.Second)
		if err := r.start("main", allRoles); err != nil {
			return err
		}
	}
	return wait()
}

func killRoles(ctx context.Context, r *runner) error {
	roles := strings.Split(allRoles, ",")
	for _, role := range roles {
		if err := r.start(role, role); err != nil {
			return err
		}
	}
	wait := r.publishing(ctx, 20*time.Second, nil)
	for k := 0; k < 6; k++ {
		r.pause(ctx, time.Second, 4*time.Second)
		role := roles[r.rng.IntN(len(roles))]
		r.kill(role)
		r.pause(ctx, 100*time.Millisecond, time.Second)
		if err := r.start(role, role); err != nil {
			return err
		}
	}
	return wait()
}

func brokerRestart(ctx context.Context, r *runner) error {
	if err := r.start("main", allRoles); err != nil {
		return err
	}
	wait := r.publishing(ctx, 20*time.Second, nil)
	r.pause(ctx, 3*time.Second, 6*time.Second)
	r.logf("stopping the broker")
	if err := r.e.kafka(ctx, "stop"); err != nil {
		return err
	}
	r.pause(ctx, 8*time.Second, 12*time.Second)
	r.logf("starting the broker")
	if err := r.e.kafka(ctx, "start"); err != nil {
		return err
	}
	return wait()
}

func postgresOutage(ctx context.Context, r *runner) error {
	if err := r.start("main", allRoles); err != nil {
		return err
	}
	wait := r.publishing(ctx, 20*time.Second, nil)
	r.pause(ctx, 3*time.Second, 6*time.Second)
	r.logf("stopping Postgres")
	if err := r.e.postgres(ctx, "stop"); err != nil {
		return err
	}
	r.pause(ctx, 28*time.Second, 32*time.Second)
	r.logf("starting Postgres")
	if err := r.e.postgres(ctx, "start"); err != nil {
		return err
	}
	return wait()
}

func rebalance(ctx context.Context, r *runner) error {
	if err := r.start("main", allRoles); err != nil {
		return err
	}
	wait := r.publishing(ctx, 20*time.Second, nil)
	r.pause(ctx, 2*time.Second, 5*time.Second)
	if err := r.start("second", allRoles); err != nil {
		return err
	}
	r.pause(ctx, 5*time.Second, 8*time.Second)
	if _, err := r.terminate("second"); err != nil {
		return err
	}
	return wait()
}

func sigterm(ctx context.Context, r *runner) error {
	if err := r.start("main", allRoles); err != nil {
		return err
	}
	wait := r.publishing(ctx, 20*time.Second, nil)
	r.pause(ctx, 3*time.Second, 6*time.Second)
	took, err := r.terminate("main")
	if err != nil {
		return err
	}
	if took > grace+3*time.Second {
		return fmt.Errorf("SIGTERM: exited after %v, grace is %v", took, grace)
	}
	if err := r.start("main", allRoles); err != nil {
		return err
	}
	return wait()
}

// poisonValues are records that are not events; every 97th event is
// followed by one of them.
var poisonValues = []string{
	"\x00\x01\x02 random bytes \xff\xfe",
	`{"tenant":"default","type":`,
	`{"tenant":"default","data":{}}`,
	`{"tenant":42,"type":"t.1","data":{}}`,
	`{"tenant":"default","type":"t.1","data":null}`,
	`{"tenant":"default","type":"hookstream.endpoint.disabled","data":{}}`,
	`{"tenant":"default","type":"t.1","data":"` + strings.Repeat("x", 1100000) + `"}`,
	`[]`,
	``,
}

func poison(ctx context.Context, r *runner) error {
	if err := r.start("main", allRoles); err != nil {
		return err
	}
	extra := func(i int) []*kgo.Record {
		if i%97 != 0 {
			return nil
		}
		r.wantInvalid++
		v := poisonValues[r.rng.IntN(len(poisonValues))]
		return []*kgo.Record{{Key: []byte(r.eventID(i)), Value: []byte(v)}}
	}
	return r.publishing(ctx, 15*time.Second, extra)()
}

// ordered: every endpoint asks for ordered delivery per key and fails a
// quarter of all attempts at random; kill -9 of the process twice, then a
// second instance joins and leaves (a rebalance). The check adds the order
// of each key's accepted deliveries (see runner.orderViolations).
func ordered(ctx context.Context, r *runner) error {
	if err := r.start("main", allRoles); err != nil {
		return err
	}
	wait := r.publishing(ctx, 20*time.Second, nil)
	for k := 0; k < 2; k++ {
		r.pause(ctx, 2*time.Second, 5*time.Second)
		r.kill("main")
		r.pause(ctx, 100*time.Millisecond, time.Second)
		if err := r.start("main", allRoles); err != nil {
			return err
		}
	}
	r.pause(ctx, time.Second, 3*time.Second)
	if err := r.start("second", allRoles); err != nil {
		return err
	}
	r.pause(ctx, 5*time.Second, 8*time.Second)
	if _, err := r.terminate("second"); err != nil {
		return err
	}
	return wait()
}
