package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"
	"go.opentelemetry.io/otel/trace"

	"github.com/hookstream/hookstream/catalog"
	"github.com/hookstream/hookstream/consumer"
	"github.com/hookstream/hookstream/delivery"
	"github.com/hookstream/hookstream/listener"
	"github.com/hookstream/hookstream/pipeline"
	"github.com/hookstream/hookstream/postgres"
	"github.com/hookstream/hookstream/quota"
	"github.com/hookstream/hookstream/routing"
	"github.com/hookstream/hookstream/schema"
	"github.com/hookstream/hookstream/seal"
)

// process is one running hookstream: the adapters its roles share and the
// goroutines it owns.
type process struct {
	cfg      Config
	log      *slog.Logger
	schedule delivery.Schedule
	allowed  delivery.Guard
	key      []byte
	db       *postgres.DB
	topics   pipeline.Topics
	kopts    []kgo.Opt
	reg      *prometheus.Registry
	metrics  *pipeline.Metrics
	table    *routing.Table
	catalog  *catalog.Catalog
	// tracer makes the stages' spans; nil when tracing is off.
	tracer trace.Tracer

	ctx     context.Context
	cancel  context.CancelCauseFunc
	wg      sync.WaitGroup
	closers []func()
}

// start runs fn in a goroutine the process waits for; an error from it
// stops the whole process.
func (p *process) start(name string, fn func(context.Context) error) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		if err := fn(p.ctx); err != nil && p.ctx.Err() == nil {
			p.cancel(fmt.Errorf("%s: %w", name, err))
		}
	}()
}

// listening holds the addresses a process serves on.
type listening struct {
	HTTP    string // the API, or health only without the api role
	Metrics string // /metrics and profiles; "" when HOOKSTREAM_METRICS_ADDR is empty
}

// run runs the configured roles until ctx ends or one of them fails. ready,
// when not nil, is called with the addresses it serves on once every role
// has started.
func run(ctx context.Context, cfg Config, log *slog.Logger, ready func(listening)) error {
	p, err := newProcess(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer p.close()
	addrs, err := p.startRoles()
	if err != nil {
		p.cancel(err)
	} else {
		log.Info("hookstream running", "roles", cfg.Roles, "instance", cfg.InstanceID, "http", addrs.HTTP,
			"metrics", addrs.Metrics, "topic_prefix", cfg.TopicPrefix, "retry_schedule", cfg.RetrySchedule, "tracing", describeTracing(cfg))
		if ready != nil {
			ready(addrs)
		}
	}
	<-p.ctx.Done()
	p.wg.Wait()
	if err := context.Cause(p.ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

func newProcess(ctx context.Context, cfg Config, log *slog.Logger) (*process, error) {
	p := &process{cfg: cfg, log: log}
	var err error
	if p.schedule, err = delivery.ParseSchedule(cfg.RetrySchedule); err != nil {
		return nil, fmt.Errorf("config: HOOKSTREAM_RETRY_SCHEDULE: %w", err)
	}
	allow, err := delivery.ParseCIDRs(cfg.AllowedTargetCIDRs)
	if err != nil {
		return nil, fmt.Errorf("config: HOOKSTREAM_ALLOWED_TARGET_CIDRS: %w", err)
	}
	p.allowed = delivery.Guard{Allow: allow}
	switch {
	case len(cfg.KafkaBrokers) == 0:
		return nil, errors.New("config: HOOKSTREAM_KAFKA_BROKERS is required")
	case cfg.DatabaseURL == "":
		return nil, errors.New("config: HOOKSTREAM_DATABASE_URL is required")
	case cfg.has(RoleAPI) && cfg.AdminToken == "":
		return nil, errors.New("config: HOOKSTREAM_ADMIN_TOKEN is required for the api role")
	}
	if p.key, err = seal.ParseKey(cfg.SecretKey); err != nil {
		return nil, fmt.Errorf("config: HOOKSTREAM_SECRET_KEY: %w", err)
	}
	box, err := seal.New(p.key)
	if err != nil {
		return nil, err
	}
	if p.db, err = postgres.Open(ctx, cfg.DatabaseURL, box); err != nil {
		return nil, err
	}
	p.closers = append(p.closers, p.db.Close)

	p.reg = prometheus.NewRegistry()
	p.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), p.db.Collector())
	p.metrics = pipeline.NewMetrics(p.reg)
	p.metrics.InitTiers(p.schedule)
	p.topics = pipeline.Topics{Prefix: cfg.TopicPrefix, Schedule: p.schedule}
	security, err := kafkaSecurity(cfg)
	if err != nil {
		p.db.Close()
		return nil, err
	}
	p.kopts = append([]kgo.Opt{
		kgo.WithLogger(kafkaLogger{log.With("component", "kafka")}),
		kgo.ProducerBatchMaxBytes(int32(maxRecordBytes(cfg))),
	}, security...)
	if err := ensureTopics(ctx, cfg, p.topics, p.kopts); err != nil {
		p.db.Close()
		return nil, err
	}
	tp, shutdown, err := tracerProvider(ctx, cfg)
	if err != nil {
		p.db.Close()
		return nil, err
	}
	if tp != nil {
		p.tracer = tp.Tracer(pipeline.TracerName)
	}
	// First in, last out: spans of the last batches are flushed after
	// everything else has stopped.
	p.closers = append([]func(){shutdown}, p.closers...)
	p.ctx, p.cancel = context.WithCancelCause(ctx)
	return p, nil
}

func (p *process) close() {
	p.cancel(nil)
	p.wg.Wait()
	for i := len(p.closers) - 1; i >= 0; i-- {
		p.closers[i]()
	}
}

// clientOpts are the options of the client named name: the shared ones
// and franz-go's metrics (kprom) under the label client=name. kprom
// registers a client's collectors when the client starts and unregisters
// them when it closes, so each client registers its metrics once; two
// clients of one name never overlap (a consumer session closes its client
// before the next session makes one).
func (p *process) clientOpts(name string) []kgo.Opt {
	reg := prometheus.WrapRegistererWith(prometheus.Labels{"client": name}, p.reg)
	return append(p.kopts[:len(p.kopts):len(p.kopts)],
		kgo.WithHooks(kprom.NewMetrics("hookstream_kafka", kprom.Registerer(reg))))
}

// kafkaClient returns a plain client closed with the process, with extra
// options after the shared ones.
func (p *process) kafkaClient(name string, extra ...kgo.Opt) (*kgo.Client, error) {
	cl, err := kgo.NewClient(append(append([]kgo.Opt{kgo.SeedBrokers(p.cfg.KafkaBrokers...),
		kgo.RequiredAcks(kgo.AllISRAcks())}, p.clientOpts(name)...), extra...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	p.closers = append(p.closers, cl.Close)
	return cl, nil
}

// session names the i-th of a stage's sessions in one process (the first
// keeps the stage's own name, and so its transactional id across upgrades).
func session(name string, i int) string {
	if i == 0 {
		return name
	}
	return name + "-" + strconv.Itoa(i)
}

// The sink's fetches wait for sinkFetchMinBytes of attempts (about 500
// attempts, a batch) or sinkLinger, whichever comes first: history shows up
// at most that much later.
const (
	sinkFetchMinBytes = 256 << 10
	sinkLinger        = 200 * time.Millisecond
)

// member is the consumer configuration of a stage.
func (p *process) member(stage, group, topic string, maxRecords int) consumer.Config {
	return consumer.Config{
		Brokers:         p.cfg.KafkaBrokers,
		Group:           group,
		Topics:          []string{topic},
		TransactionalID: group + "." + p.cfg.InstanceID,
		ClientOpts:      p.clientOpts(stage),
		MaxPollRecords:  maxRecords,
		Grace:           p.cfg.ShutdownGrace,
		Quarantine:      p.topics.Quarantine(),
		OnQuarantine:    p.metrics.Quarantined(group),
		Log:             p.log.With("stage", stage),
	}
}

// startRoles starts every configured role and the HTTP servers, and
// returns their addresses.
func (p *process) startRoles() (listening, error) {
	cfg := p.cfg
	if cfg.has(RoleAPI) {
		// Before the dispatch role reads them.
		srcs, err := parseSources(cfg)
		if err == nil {
			err = p.declareSources(p.ctx, srcs)
		}
		if err != nil {
			return listening{}, fmt.Errorf("declare HOOKSTREAM_SOURCES: %w", err)
		}
	}
	var stages []consumer.Stage
	p.startPartitions()
	if cfg.has(RoleDispatch) || cfg.has(RoleDeliver) || cfg.has(RoleRetry) {
		p.table = routing.New(p.db, p.log.With("component", "routing"))
		if err := p.table.ReloadAll(p.ctx); err != nil {
			return listening{}, err
		}
		p.start("routing", func(ctx context.Context) error {
			p.table.Run(ctx, p.db.ListenEndpoints, cfg.EndpointRefresh)
			return nil
		})
		p.metrics.WatchEndpoints(p.reg, p.table.Counts)
	}
	if cfg.has(RoleDispatch) || cfg.has(RoleAPI) {
		// The event-type catalog, compiled: the API and the dispatcher
		// check events against it.
		p.catalog = catalog.New(p.db, p.log.With("component", "catalog"))
		p.catalog.ValidateAll = cfg.ValidateEvents
		if err := p.catalog.ReloadAll(p.ctx); err != nil {
			return listening{}, err
		}
		p.start("catalog", func(ctx context.Context) error {
			p.catalog.Run(ctx, p.db.ListenEventTypes, cfg.EndpointRefresh)
			return nil
		})
	}
	origin := pipeline.NewOrigin(p.key)
	// The bulk lanes yield to the fast lane on this instance.
	prio := pipeline.NewPriority(cfg.FastLaneTarget, cfg.BulkMinRate)
	p.start("priority", func(ctx context.Context) error {
		prio.Run(ctx, 100*time.Millisecond)
		return nil
	})
	if cfg.has(RoleDispatch) {
		d := &pipeline.Dispatcher{Topics: p.topics, Gate: p.db, Routes: p.table, Order: p.db, Origin: origin, Catalog: p.catalog, Tracer: p.tracer,
			MaxEventBytes: cfg.MaxEventBytes, MaxFanout: cfg.MaxFanout, Priority: prio, Metrics: p.metrics, Log: p.log.With("stage", "dispatch"),
			Lanes: &quota.Buckets{Limit: quota.Limit{Rate: cfg.TenantFastLaneRate, Burst: cfg.TenantFastLaneBurst}}}
		// Each stage runs DispatchSessions members of its group, each with
		// partitions and transactions of its own: one tenant's backlog (its
		// events share a partition) holds up only its session's partitions.
		dispatch := func(stage, topic string, maxRecords int, fn consumer.TransformFunc, outputs ...string) {
			group := p.topics.Group(stage)
			stages = append(stages, consumer.Stage{Group: group, Topic: topic})
			for i := range cfg.DispatchSessions {
				p.start(session(stage, i), func(ctx context.Context) error {
					c := p.member(session(stage, i), group, topic, maxRecords)
					c.TransactionalID = session(c.TransactionalID, i)
					c.Outputs = outputs
					return consumer.RunTransform(ctx, c, fn)
				})
			}
		}
		// Batches of events that are forwarded cost no Postgres work, only
		// the transaction's round trips: larger ones read past a tenant's
		// backlog that much faster.
		dispatch("dispatch", p.topics.Events(), 8*cfg.BatchRecords, d.Transform,
			p.topics.Deliveries(), p.topics.EventsBulk(), p.topics.Invalid(), p.topics.Quarantine())
		// The bulk lane of events: those of tenants past their share of the
		// fast lane, forwarded unclaimed by the dispatcher above.
		bulk := *d
		bulk.Bulk, bulk.Lanes, bulk.Log = true, nil, p.log.With("stage", "dispatch-bulk")
		bulk.Priority, bulk.Yield = nil, prio.Lane()
		p.metrics.WatchLane(p.reg, "dispatch-bulk", bulk.Yield)
		dispatch("dispatch-bulk", p.topics.EventsBulk(), cfg.BatchRecords, bulk.Transform,
			p.topics.Bulk(), p.topics.Invalid(), p.topics.Quarantine())
		// Sources: topics read as they are, each in a group of its own.
		p.start("sources", func(ctx context.Context) error { return p.runSources(ctx, d) })
	}
	if cfg.has(RoleDeliver) || cfg.has(RoleRetry) {
		// Keep as many idle connections to one host as attempts can be in
		// flight to it: many endpoints often share a host, and a smaller
		// pool closes and dials again at every request (docs/performance.md,
		// "What the profiles changed").
		sender := delivery.NewSender(delivery.SenderOptions{
			Guard: p.allowed, DefaultTimeout: cfg.DeliveryTimeout, MaxResponseBody: cfg.ResponseBodyLimit,
			MaxIdleConnsPerHost: cfg.DeliverConcurrency * 2, Log: p.log.With("stage", "deliver"),
		})
		p.closers = append(p.closers, sender.Close)
		relay := listener.NewRelay(listener.Token(p.key), cfg.ResponseBodyLimit)
		d := &pipeline.Deliverer{Topics: p.topics, Routes: p.table, Order: p.db, Sender: sender, Relay: relay, Jitter: cfg.RetryJitter, Tracer: p.tracer,
			Limits: pipeline.NewLimits(cfg.EndpointConcurrency, cfg.DeliverConcurrency), Priority: prio, Metrics: p.metrics, Log: p.log.With("stage", "deliver")}
		// Tasks run concurrently, within a partition too. The attempts in
		// flight are DeliverConcurrency in all (Limits); each stage holds
		// four times as many tasks, a partition as many as attempts, so
		// that tasks waiting for a busy endpoint (up to half its timeout,
		// while nobody knows yet that it is slow) leave work for the
		// others (the slow scenario of docs/performance.md).
		sendMember := func(stage, group, topic string) consumer.Config {
			c := p.member(stage, group, topic, cfg.BatchRecords)
			c.MaxInFlight, c.PartitionInFlight = 4*cfg.DeliverConcurrency, cfg.DeliverConcurrency
			return c
		}
		if cfg.has(RoleDeliver) {
			group := p.topics.Group("deliver")
			stages = append(stages, consumer.Stage{Group: group, Topic: p.topics.Deliveries()})
			p.start("deliver", func(ctx context.Context) error {
				return consumer.RunConcurrent(ctx, sendMember("deliver", group, p.topics.Deliveries()), nil, d.Process)
			})
			// The bulk lane: tasks of tenants past their share of the
			// fast lane, on at most three quarters of the attempt slots.
			bulk := *d
			bulk.Bulk, bulk.Priority, bulk.Yield = true, nil, prio.Lane()
			p.metrics.WatchLane(p.reg, "deliver-bulk", bulk.Yield)
			bgroup := p.topics.Group("deliver-bulk")
			stages = append(stages, consumer.Stage{Group: bgroup, Topic: p.topics.Bulk()})
			p.start("deliver-bulk", func(ctx context.Context) error {
				return consumer.RunConcurrent(ctx, sendMember("deliver-bulk", bgroup, p.topics.Bulk()), nil, bulk.Process)
			})
			// Ordered deliveries released when the earlier one of their
			// key is resolved (docs/ordering.md): a topic of their own, so
			// that a key's next delivery does not wait behind the backlog
			// of the deliveries topic.
			ogroup := p.topics.Group("deliver-ordered")
			stages = append(stages, consumer.Stage{Group: ogroup, Topic: p.topics.Released()})
			p.start("deliver-ordered", func(ctx context.Context) error {
				return consumer.RunConcurrent(ctx, sendMember("deliver-ordered", ogroup, p.topics.Released()), nil, d.Process)
			})
		}
		if cfg.has(RoleRetry) {
			for i := range p.schedule {
				name, group, topic := "retry."+delivery.TierName(p.schedule[i]), p.topics.RetryGroup(i), p.topics.Retry(i)
				stages = append(stages, consumer.Stage{Group: group, Topic: topic, Gate: pipeline.Due})
				p.start(name, func(ctx context.Context) error {
					return consumer.RunConcurrent(ctx, sendMember(name, group, topic), pipeline.Due, d.Process)
				})
			}
		}
	}
	if cfg.has(RoleSink) {
		prod, err := p.kafkaClient("sink-producer")
		if err != nil {
			return listening{}, err
		}
		s := &pipeline.Sink{DB: p.db, Producer: prod, Topics: p.topics, Origin: origin, Tracer: p.tracer,
			Rule:    schema.DisableRule{Failures: cfg.DisableAfterFailures, MinFailing: cfg.DisableMinFailing, Probes: cfg.probes()},
			Metrics: p.metrics, Log: p.log.With("stage", "sink")}
		group := p.topics.Group("sink")
		stages = append(stages, consumer.Stage{Group: group, Topic: p.topics.Attempts()})
		p.start("sink", func(ctx context.Context) error {
			c := p.member("sink", group, p.topics.Attempts(), cfg.BatchRecords)
			// Fewer, larger transactions: the broker holds a fetch until
			// about a batch of attempts is there, or sinkLinger has
			// passed. At a trickle the sink then commits a few times a
			// second instead of once per attempt or two, and its WAL
			// flushes stop queueing in front of the dispatcher's claims,
			// the only commits between publish and 2xx.
			c.ClientOpts = append(c.ClientOpts, kgo.FetchMinBytes(sinkFetchMinBytes), kgo.FetchMaxWait(sinkLinger))
			return consumer.RunSink(ctx, c, s.Store)
		})
		// The quarantine topic's index for the API: a sink of its own,
		// which never quarantines (to the topic it reads).
		qgroup := p.topics.Group("quarantine")
		stages = append(stages, consumer.Stage{Group: qgroup, Topic: p.topics.Quarantine()})
		idx := &pipeline.QuarantineIndexer{DB: p.db}
		p.start("quarantine", func(ctx context.Context) error {
			c := p.member("quarantine", qgroup, p.topics.Quarantine(), cfg.BatchRecords)
			c.Quarantine, c.OnQuarantine = "", nil
			return consumer.RunSink(ctx, c, idx.Store)
		})
		p.start("parked", func(ctx context.Context) error {
			p.metrics.WatchParked(ctx, p.reg, p.db.CountParked, p.db.CountPaused, time.Minute)
			return nil
		})
		p.start("ordering", func(ctx context.Context) error {
			p.metrics.WatchOrdering(ctx, p.reg, p.db.OrderingStats, 15*time.Second, p.log.With("component", "ordering"))
			return nil
		})
	}
	if len(stages) > 0 {
		cl, err := p.kafkaClient("lag")
		if err != nil {
			return listening{}, err
		}
		mon := consumer.NewLagMonitor(cl, stages, p.log.With("component", "lag"))
		p.reg.MustRegister(mon)
		p.start("lag", func(ctx context.Context) error {
			mon.Run(ctx, cfg.LagInterval)
			return nil
		})
	}
	var (
		addrs listening
		err   error
	)
	if addrs.Metrics, err = p.serveMetrics(); err != nil {
		return addrs, err
	}
	addrs.HTTP, err = p.serveHTTP()
	return addrs, err
}
