package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/delivery"
	"github.com/hookstream/hookstream/postgres"
	"github.com/hookstream/hookstream/schema"
	"github.com/hookstream/hookstream/seal"
)

// grace is the shutdown grace period the processes run with.
const grace = 5 * time.Second

// runner is one scenario's system: a database, a topic prefix, the
// receiver, the hookstream processes and the publisher.
type runner struct {
	e      *env
	name   string
	rng    *rand.Rand
	prefix string
	dbURL  string
	key    string
	rcv    *receiver
	logs   string

	mu    sync.Mutex
	procs map[string]*proc

	published atomic.Int64
	endpoints []string // endpoint ids by index
	// ordered makes every endpoint ask for ordered delivery and gives
	// event i the ordering key orderingKey(i) (the ordered scenario).
	ordered     bool
	wantInvalid int // poison records published
}

type proc struct {
	slot  string
	roles string
	cmd   *exec.Cmd
	done  chan struct{} // closed when the process has exited
	err   error         // its exit status, once done
}

func (e *env) newRunner(ctx context.Context, name string, rng *rand.Rand) (*runner, error) {
	r := &runner{e: e, name: name, rng: rng, procs: map[string]*proc{},
		prefix: fmt.Sprintf("f%d%s.", time.Now().Unix()%100000, name), key: seal.GenerateKey()}
	r.logs = filepath.Join(e.o.work, "logs", name)
	if err := os.RemoveAll(r.logs); err != nil { // a previous invocation's
		return nil, err
	}
	if err := os.MkdirAll(r.logs, 0o755); err != nil {
		return nil, err
	}
	db := "faults_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	conn, err := pgx.Connect(ctx, e.pgURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+db); err != nil {
		return nil, err
	}
	r.dbURL = "postgres://postgres@127.0.0.1:" + e.o.pgPort + "/" + db + "?sslmode=disable"
	if r.rcv, err = newReceiver(); err != nil {
		return nil, err
	}
	if name == "ordered" {
		r.ordered, r.rcv.ordered, r.rcv.rng = true, true, rand.New(rand.NewPCG(rng.Uint64(), 16))
	}
	return r, r.setup(ctx)
}

// setup migrates the database and creates the endpoints.
func (r *runner) setup(ctx context.Context) error {
	k, _ := seal.ParseKey(r.key)
	box, _ := seal.New(k)
	db, err := postgres.Open(ctx, r.dbURL, box)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		return err
	}
	for i := 0; i < r.e.o.endpoints; i++ {
		secret, _ := delivery.GenerateSecret()
		url := "http://" + r.rcv.addr + "/ep/" + strconv.Itoa(i)
		ne := schema.NewEndpoint{ID: schema.NewID("ep_"), Tenant: schema.DefaultTenant,
			URL: url, DisplayURL: url, EventTypes: []string{"t." + strconv.Itoa(i)}, Secret: secret, Timeout: 5 * time.Second}
		if r.ordered {
			ne.Ordering = schema.OrderingKey
		}
		ep, err := db.CreateEndpoint(ctx, ne)
		if err != nil {
			return err
		}
		r.endpoints = append(r.endpoints, ep.ID)
	}
	return nil
}

// env returns a process's environment.
func (r *runner) env(slot string) []string {
	return append(os.Environ(),
		"HOOKSTREAM_KAFKA_BROKERS="+r.e.o.brokers,
		"HOOKSTREAM_DATABASE_URL="+r.dbURL,
		"HOOKSTREAM_SECRET_KEY="+r.key,
		"HOOKSTREAM_ADMIN_TOKEN=faults",
		"HOOKSTREAM_ALLOWED_TARGET_CIDRS=127.0.0.0/8",
		"HOOKSTREAM_TOPIC_PREFIX="+r.prefix,
		"HOOKSTREAM_TOPIC_PARTITIONS=6",
		"HOOKSTREAM_RETRY_SCHEDULE=1s,2s,4s",
		"HOOKSTREAM_DISABLE_AFTER_FAILURES=0",
		"HOOKSTREAM_HTTP_ADDR=127.0.0.1:0",
		"HOOKSTREAM_METRICS_ADDR=127.0.0.1:0",
		"HOOKSTREAM_SHUTDOWN_GRACE="+grace.String(),
		"HOOKSTREAM_LOG_FORMAT=json",
		"HOOKSTREAM_LOG_LEVEL="+r.e.o.logLevel,
		// A restarted slot reuses its instance id: its transactional ids
		// fence the killed process's open transactions at once.
		"HOOKSTREAM_INSTANCE_ID=faults-"+slot,
	)
}

// start starts (or restarts) the process in a slot.
func (r *runner) start(slot, roles string) error {
	f, err := os.OpenFile(filepath.Join(r.logs, slot+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(r.e.bin, "run", "--roles="+roles)
	cmd.Env, cmd.Stdout, cmd.Stderr = r.env(slot), f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return err
	}
	p := &proc{slot: slot, roles: roles, cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); f.Close(); close(p.done) }()
	r.mu.Lock()
	r.procs[slot] = p
	r.mu.Unlock()
	r.logf("started %s (%s), pid %d", slot, roles, cmd.Process.Pid)
	return nil
}

// kill sends SIGKILL to a slot's process and waits for it.
func (r *runner) kill(slot string) {
	p := r.proc(slot)
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	r.logf("killed %s", slot)
}

// terminate sends SIGTERM and returns how long the process took to exit.
func (r *runner) terminate(slot string) (time.Duration, error) {
	p := r.proc(slot)
	start := time.Now()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		r.logf("%s exited after SIGTERM in %v", slot, time.Since(start).Round(time.Millisecond))
		var ee *exec.ExitError
		if errors.As(p.err, &ee) && !ee.Success() {
			return time.Since(start), fmt.Errorf("%s exited with %v after SIGTERM", slot, p.err)
		}
		return time.Since(start), nil
	case <-time.After(grace + 10*time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		return time.Since(start), fmt.Errorf("%s did not exit within %v of SIGTERM", slot, grace+10*time.Second)
	}
}

func (r *runner) proc(slot string) *proc {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.procs[slot]
}

func (r *runner) stopAll() {
	r.mu.Lock()
	procs := make([]*proc, 0, len(r.procs))
	for _, p := range r.procs {
		procs = append(procs, p)
	}
	r.mu.Unlock()
	for _, p := range procs {
		select {
		case <-p.done:
			continue
		default:
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace + 10*time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
}

// eventID is the id of event i of this run; its delivery goes to endpoint
// i mod endpoints.
func (r *runner) eventID(i int) string { return r.name + "-" + strconv.Itoa(i) }

// orderingKey is event i's ordering key in the ordered scenario: 8 keys per
// endpoint.
func (r *runner) orderingKey(i int) string {
	return "k" + strconv.Itoa((i/len(r.endpoints))%8)
}

func (r *runner) deliveryID(i int) string {
	return schema.DeliveryID(schema.DefaultTenant, r.eventID(i), r.endpoints[i%len(r.endpoints)])
}

// publish produces the run's events, paced over about spread, and returns
// once the broker has every one of them.
func (r *runner) publish(ctx context.Context, spread time.Duration, extra func(i int) []*kgo.Record) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.e.o.brokers), kgo.DefaultProduceTopic(r.prefix+"events"),
		kgo.ProducerLinger(5*time.Millisecond), kgo.ProducerBatchMaxBytes(2<<20))
	if err != nil {
		return err
	}
	defer cl.Close()
	// The first process creates the topics; wait for them.
	adm := kadm.NewClient(cl)
	for {
		td, err := adm.ListTopics(ctx, r.prefix+"events")
		if err == nil && td.Has(r.prefix+"events") && td[r.prefix+"events"].Err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	n := r.e.o.events
	const ticks = 200
	per := (n + ticks - 1) / ticks
	tick := time.NewTicker(spread / ticks)
	defer tick.Stop()
	for start := 0; start < n; start += per {
		var recs []*kgo.Record
		for i := start; i < min(n, start+per); i++ {
			ev := schema.Event{ID: r.eventID(i), Tenant: schema.DefaultTenant, Type: "t." + strconv.Itoa(i%r.e.o.endpoints),
				Data: []byte(`{"i":` + strconv.Itoa(i) + `}`), CreatedAt: time.Now().UTC()}
			if r.ordered {
				ev.OrderingKey = r.orderingKey(i)
			}
			recs = append(recs, &kgo.Record{Key: []byte(ev.ID), Value: schema.EncodeEvent(ev)})
			if extra != nil {
				recs = append(recs, extra(i)...)
			}
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		r.published.Add(int64(min(n, start+per) - start))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

func (r *runner) logf(format string, args ...any) {
	if r.e.o.verbose {
		fmt.Printf("   %s  %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
	}
}

func (r *runner) close() {
	r.stopAll()
	r.rcv.close()
}

// countTopic reads a topic to its end and counts its records.
func (r *runner) countTopic(ctx context.Context, topic string) (int, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.e.o.brokers), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	n := 0
	for quiet := 0; quiet < 3; {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		got := len(fs.Records())
		if got == 0 {
			quiet++
		}
		n += got
	}
	return n, nil
}
