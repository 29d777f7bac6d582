package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/api"
	"github.com/hookstream/hookstream/consumer"
	"github.com/hookstream/hookstream/delivery"
	"github.com/hookstream/hookstream/pipeline"
	"github.com/hookstream/hookstream/postgres"
	"github.com/hookstream/hookstream/producer"
	"github.com/hookstream/hookstream/routing"
	"github.com/hookstream/hookstream/schema"
	"github.com/hookstream/hookstream/seal"
)

// run runs the configured roles until ctx ends or one of them fails. ready,
// when not nil, is called with the API's address once it listens (or with ""
// when the process runs no API) after every role has started.
func run(ctx context.Context, cfg Config, log *slog.Logger, ready func(apiAddr string)) error {
	schedule, err := delivery.ParseSchedule(cfg.RetrySchedule)
	if err != nil {
		return fmt.Errorf("config: HOOKSTREAM_RETRY_SCHEDULE: %w", err)
	}
	allowed, err := delivery.ParseCIDRs(cfg.AllowedTargetCIDRs)
	if err != nil {
		return fmt.Errorf("config: HOOKSTREAM_ALLOWED_TARGET_CIDRS: %w", err)
	}
	if len(cfg.KafkaBrokers) == 0 {
		return errors.New("config: HOOKSTREAM_KAFKA_BROKERS is required")
	}
	if cfg.DatabaseURL == "" {
		return errors.New("config: HOOKSTREAM_DATABASE_URL is required")
	}
	if cfg.has(RoleAPI) && cfg.AdminToken == "" {
		return errors.New("config: HOOKSTREAM_ADMIN_TOKEN is required for the api role")
	}
	key, err := seal.ParseKey(cfg.SecretKey)
	if err != nil {
		return fmt.Errorf("config: HOOKSTREAM_SECRET_KEY: %w", err)
	}
	box, err := seal.New(key)
	if err != nil {
		return err
	}
	db, err := postgres.Open(ctx, cfg.DatabaseURL, box)
	if err != nil {
		return err
	}
	defer db.Close()

	topics := pipeline.Topics{Prefix: cfg.TopicPrefix, Schedule: schedule}
	kopts := []kgo.Opt{kgo.WithLogger(kafkaLogger{log.With("component", "kafka")})}
	if err := ensureTopics(ctx, cfg, topics, kopts); err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := pipeline.NewMetrics(reg)

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	start := func(name string, fn func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(ctx); err != nil && ctx.Err() == nil {
				cancel(fmt.Errorf("%s: %w", name, err))
			}
		}()
	}

	var table *routing.Table
	if cfg.has(RoleDispatch) || cfg.has(RoleDeliver) || cfg.has(RoleRetry) {
		table = routing.New(db, func(err error) bool { return errors.Is(err, postgres.ErrNotFound) }, log.With("component", "routing"))
		if err := table.ReloadAll(ctx); err != nil {
			return err
		}
		start("routing", func(ctx context.Context) error {
			table.Run(ctx, db.ListenEndpoints, cfg.EndpointRefresh)
			return nil
		})
	}
	member := func(stage string, group string, topic string) consumer.Config {
		return consumer.Config{
			Brokers:         cfg.KafkaBrokers,
			Group:           group,
			Topics:          []string{topic},
			TransactionalID: group + "." + cfg.InstanceID,
			ClientOpts:      kopts,
			MaxPollRecords:  cfg.BatchRecords,
			Grace:           cfg.ShutdownGrace,
			Log:             log.With("stage", stage),
		}
	}
	if cfg.has(RoleDispatch) {
		d := &pipeline.Dispatcher{Topics: topics, Gate: db, Routes: table, MaxEventBytes: cfg.MaxEventBytes,
			Metrics: metrics, Log: log.With("stage", "dispatch")}
		start("dispatch", func(ctx context.Context) error {
			return consumer.RunTransform(ctx, member("dispatch", topics.Group("dispatch"), topics.Events()), nil, d.Transform)
		})
	}
	if cfg.has(RoleDeliver) || cfg.has(RoleRetry) {
		sender := delivery.NewSender(delivery.SenderOptions{
			Guard:           delivery.Guard{Allow: allowed},
			DefaultTimeout:  cfg.DeliveryTimeout,
			MaxResponseBody: cfg.ResponseBodyLimit,
		})
		defer sender.Close()
		// A delivery batch is at most one round of concurrent attempts, so
		// that it ends within the endpoint timeout, well inside the
		// transaction and rebalance timeouts.
		sendMember := func(stage, group, topic string) consumer.Config {
			c := member(stage, group, topic)
			c.MaxPollRecords = min(cfg.BatchRecords, cfg.DeliverConcurrency)
			return c
		}
		d := &pipeline.Deliverer{Topics: topics, Routes: table, Sender: sender, Jitter: cfg.RetryJitter,
			Concurrency: cfg.DeliverConcurrency, Metrics: metrics, Log: log.With("stage", "deliver")}
		if cfg.has(RoleDeliver) {
			start("deliver", func(ctx context.Context) error {
				return consumer.RunTransform(ctx, sendMember("deliver", topics.Group("deliver"), topics.Deliveries()), nil, d.Transform)
			})
		}
		if cfg.has(RoleRetry) {
			for i := range schedule {
				stage := "retry." + delivery.TierName(schedule[i])
				start(stage, func(ctx context.Context) error {
					return consumer.RunTransform(ctx, sendMember(stage, topics.RetryGroup(i), topics.Retry(i)), pipeline.Due, d.Transform)
				})
			}
		}
	}
	var pub *producer.Client
	if cfg.has(RoleSink) || cfg.has(RoleAPI) {
		pub, err = producer.New(cfg.KafkaBrokers, producer.WithTopic(topics.Events()),
			producer.WithMaxBytes(cfg.MaxEventBytes), producer.WithKafkaOptions(kopts...))
		if err != nil {
			cancel(nil)
			wg.Wait()
			return err
		}
		defer pub.Close()
	}
	if cfg.has(RoleSink) {
		s := &pipeline.Sink{DB: db, Events: pub, Metrics: metrics, Log: log.With("stage", "sink"),
			Rule: schema.DisableRule{Failures: cfg.DisableAfterFailures, MinFailing: cfg.DisableMinFailing}}
		start("sink", func(ctx context.Context) error {
			return consumer.RunSink(ctx, member("sink", topics.Group("sink"), topics.Attempts()), s.Store)
		})
	}

	apiAddr := ""
	if cfg.has(RoleAPI) {
		qcl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(cfg.KafkaBrokers...),
			kgo.RequiredAcks(kgo.AllISRAcks())}, kopts...)...)
		if err != nil {
			cancel(nil)
			wg.Wait()
			return fmt.Errorf("kafka: %w", err)
		}
		defer qcl.Close()
		srv := &api.Server{
			Store: db, Publisher: pub, Tasks: &pipeline.Queue{Client: qcl, Topics: topics}, Guard: delivery.Guard{Allow: allowed}, AdminToken: cfg.AdminToken,
			MaxEventBytes: int64(cfg.MaxEventBytes), DefaultTimeout: cfg.DeliveryTimeout,
			Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), Log: log.With("component", "api"),
		}
		if table != nil {
			srv.EndpointChanged = func(ctx context.Context, id string) {
				if err := table.Refresh(ctx, id); err != nil {
					log.Warn("endpoint refresh failed", "endpoint_id", id, "err", err)
				}
			}
		}
		ln, err := net.Listen("tcp", cfg.HTTPAddr)
		if err != nil {
			cancel(nil)
			wg.Wait()
			return fmt.Errorf("api: %w", err)
		}
		apiAddr = ln.Addr().String()
		hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
			IdleTimeout: 2 * time.Minute, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
		start("api", func(ctx context.Context) error {
			errc := make(chan error, 1)
			go func() { errc <- hs.Serve(ln) }()
			select {
			case err := <-errc:
				return err
			case <-ctx.Done():
				sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownGrace)
				defer scancel()
				return hs.Shutdown(sctx)
			}
		})
	} else {
		// Without the API, serve health and metrics for probes and scrapes.
		apiAddr = ""
		if cfg.HTTPAddr != "" {
			ln, err := net.Listen("tcp", cfg.HTTPAddr)
			if err != nil {
				cancel(nil)
				wg.Wait()
				return fmt.Errorf("http: %w", err)
			}
			mux := http.NewServeMux()
			mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
			mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
			mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
				if err := db.Ping(r.Context()); err != nil {
					http.Error(w, "postgres unavailable", http.StatusServiceUnavailable)
					return
				}
				_, _ = w.Write([]byte("ok\n"))
			})
			hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
			start("http", func(ctx context.Context) error {
				go func() { <-ctx.Done(); _ = hs.Close() }()
				if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
					return err
				}
				return nil
			})
		}
	}

	log.Info("hookstream running", "roles", cfg.Roles, "instance", cfg.InstanceID, "api", apiAddr,
		"topic_prefix", cfg.TopicPrefix, "retry_schedule", cfg.RetrySchedule)
	if ready != nil {
		ready(apiAddr)
	}
	<-ctx.Done()
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// ensureTopics creates the deployment's topics that do not exist yet.
func ensureTopics(ctx context.Context, cfg Config, topics pipeline.Topics, kopts []kgo.Opt) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(cfg.KafkaBrokers...)}, kopts...)...)
	if err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	var lastErr error
	for try := 0; try < 30; try++ {
		resp, err := adm.CreateTopics(ctx, cfg.TopicPartitions, cfg.TopicReplication, nil, topics.All()...)
		if err == nil {
			lastErr = nil
			for _, t := range resp.Sorted() {
				if t.Err != nil && !errors.Is(t.Err, kerr.TopicAlreadyExists) {
					lastErr = fmt.Errorf("kafka: create topic %s: %w", t.Topic, t.Err)
				}
			}
			if lastErr == nil {
				return nil
			}
		} else {
			lastErr = fmt.Errorf("kafka: create topics: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return lastErr
}

// kafkaLogger passes franz-go's warnings and errors to slog.
type kafkaLogger struct{ log *slog.Logger }

var _ kgo.Logger = kafkaLogger{}

func (kafkaLogger) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (l kafkaLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	lvl := slog.LevelWarn
	if level == kgo.LogLevelError {
		lvl = slog.LevelError
	}
	l.log.Log(context.Background(), lvl, msg, keyvals...)
}
