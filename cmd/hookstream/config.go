package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sethvargo/go-envconfig"
	"go.opentelemetry.io/otel/trace"

	"github.com/hookstream/hookstream/api"
	"github.com/hookstream/hookstream/schema"
)

// Roles a process can run.
const (
	RoleAPI      = "api"
	RoleDispatch = "dispatch"
	RoleDeliver  = "deliver"
	RoleRetry    = "retry"
	RoleSink     = "sink"
)

var allRoles = []string{RoleAPI, RoleDispatch, RoleDeliver, RoleRetry, RoleSink}

// Config is hookstream's whole configuration, read from HOOKSTREAM_*
// environment variables. It is the only place that reads the environment.
type Config struct {
	// Roles this process runs (--roles overrides).
	Roles []string `env:"ROLES, default=api,dispatch,deliver,retry,sink"`

	KafkaBrokers []string `env:"KAFKA_BROKERS"`
	// Kafka security: TLS (system roots, or a CA file; a client certificate
	// for mutual TLS) and SASL (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512).
	KafkaTLS           bool   `env:"KAFKA_TLS"`
	KafkaTLSCAFile     string `env:"KAFKA_TLS_CA_FILE"`
	KafkaTLSCertFile   string `env:"KAFKA_TLS_CERT_FILE"`
	KafkaTLSKeyFile    string `env:"KAFKA_TLS_KEY_FILE"`
	KafkaSASLMechanism string `env:"KAFKA_SASL_MECHANISM"`
	KafkaSASLUsername  string `env:"KAFKA_SASL_USERNAME"`
	KafkaSASLPassword  string `env:"KAFKA_SASL_PASSWORD"`
	DatabaseURL        string `env:"DATABASE_URL"`
	HTTPAddr           string `env:"HTTP_ADDR, default=:8080"`
	AdminToken         string `env:"ADMIN_TOKEN"`
	// SecretKey seals signing secrets and endpoint URLs at rest: 32 bytes,
	// hex or base64.
	SecretKey string `env:"SECRET_KEY"`
	// AllowedTargetCIDRs lets endpoints resolve into otherwise refused
	// networks (loopback, private, …), e.g. 127.0.0.0/8 for local receivers.
	AllowedTargetCIDRs string `env:"ALLOWED_TARGET_CIDRS"`

	TopicPrefix      string  `env:"TOPIC_PREFIX, default=hookstream."`
	TopicPartitions  int32   `env:"TOPIC_PARTITIONS, default=12"`
	TopicReplication int16   `env:"TOPIC_REPLICATION, default=-1"`
	RetrySchedule    string  `env:"RETRY_SCHEDULE, default=30s,2m,10m,1h,6h,24h"`
	RetryJitter      float64 `env:"RETRY_JITTER, default=0.2"`

	// An endpoint is disabled after DisableAfterFailures consecutive failed
	// attempts spread over at least DisableMinFailing (0 = never by count).
	DisableAfterFailures int           `env:"DISABLE_AFTER_FAILURES, default=50"`
	DisableMinFailing    time.Duration `env:"DISABLE_MIN_FAILING, default=1h"`
	// An endpoint the failure rule disabled is probed ProbeFirst after,
	// then after each failed probe twice as long as before, up to
	// ProbeMax; a probe that succeeds re-enables it.
	ProbeFirst time.Duration `env:"PROBE_FIRST, default=1m"`
	ProbeMax   time.Duration `env:"PROBE_MAX, default=6h"`
	// RecoveryPoll is how often every api instance looks for probes that
	// are due, pauses whose end has come, and parked deliveries of
	// endpoints that can be sent to again: a probe or the end of a pause
	// comes up to this long after its time.
	RecoveryPoll time.Duration `env:"RECOVERY_POLL, default=5s"`

	DeliveryTimeout   time.Duration `env:"DELIVERY_TIMEOUT, default=15s"`
	ResponseBodyLimit int           `env:"RESPONSE_BODY_LIMIT, default=4096"`
	// DeliverConcurrency bounds the attempts in flight of the process (the
	// deliver stage and the retry tiers together); EndpointConcurrency
	// those of one endpoint.
	DeliverConcurrency  int `env:"DELIVER_CONCURRENCY, default=512"`
	EndpointConcurrency int `env:"ENDPOINT_CONCURRENCY, default=32"`
	MaxEventBytes       int `env:"MAX_EVENT_BYTES, default=1048576"`
	BatchRecords        int `env:"BATCH_RECORDS, default=500"`
	// DispatchSessions is how many members of the dispatch groups each
	// instance runs: each reads its own partitions in its own
	// transactions, so that a backlog in one partition does not hold up
	// the events of the others.
	DispatchSessions int           `env:"DISPATCH_SESSIONS, default=4"`
	EndpointRefresh  time.Duration `env:"ENDPOINT_REFRESH, default=30s"`
	// SourceRefresh is how often the dispatch role reads the sources
	// again, to start the new ones and stop the deleted ones; MaxSources
	// bounds how many may exist (each is a consumer group and a
	// transactional producer in every dispatch instance).
	SourceRefresh time.Duration `env:"SOURCE_REFRESH, default=5s"`
	MaxSources    int           `env:"MAX_SOURCES, default=50"`
	// Sources, when set, is a JSON array of sources (as POST /v1/sources
	// takes them, each with its id: the chart's config.sources) that the
	// api role declares at start: a source missing is created, one whose
	// definition changed is replaced (its group and offsets kept).
	Sources string `env:"SOURCES"`
	// LagInterval is how often consumer lag is measured for /metrics.
	LagInterval   time.Duration `env:"LAG_INTERVAL, default=15s"`
	ShutdownGrace time.Duration `env:"SHUTDOWN_GRACE, default=15s"`

	// InstanceID names this process in transactional ids; unique among
	// running instances (default: host name and process id).
	InstanceID string `env:"INSTANCE_ID"`

	// Management API
	// Retention is the age past which events, deliveries and attempts are
	// deleted (0 keeps them forever); RetentionInterval is how often the
	// api role prunes. KeyCacheTTL is how long a verified API key is
	// trusted without asking Postgres: the longest a key revoked through
	// another instance keeps working.
	Retention         time.Duration `env:"RETENTION, default=720h"`
	RetentionInterval time.Duration `env:"RETENTION_INTERVAL, default=10m"`
	KeyCacheTTL       time.Duration `env:"KEY_CACHE_TTL, default=5s"`
	// The history tables (events, deliveries, attempts) are partitioned
	// by ranges of PartitionInterval (aligned on UTC midnight for 24h);
	// every instance's first pass and then the instance holding the lock
	// keep PartitionsAhead intervals made ahead of now.
	PartitionInterval time.Duration `env:"PARTITION_INTERVAL, default=24h"`
	PartitionsAhead   int           `env:"PARTITIONS_AHEAD, default=3"`

	// Limits per tenant, 0 for none. MaxEndpointsPerTenant bounds a
	// tenant's endpoints, MaxFanout the endpoints one event may reach
	// (POST /v1/events refuses a wider event, the dispatcher sends one
	// from the topic to the invalid topic). Equal by default: a tenant
	// within its endpoint limit can publish any type. TenantEventRate and
	// TenantEventBurst make a token bucket per tenant for POST /v1/events,
	// TenantAPIRate and TenantAPIBurst one for the tenant's other calls, on
	// each API instance (per second; a burst of at least 1).
	MaxEndpointsPerTenant int     `env:"MAX_ENDPOINTS_PER_TENANT, default=1000"`
	MaxFanout             int     `env:"MAX_FANOUT, default=1000"`
	TenantEventRate       float64 `env:"TENANT_EVENT_RATE, default=100"`
	TenantEventBurst      int     `env:"TENANT_EVENT_BURST, default=200"`
	TenantAPIRate         float64 `env:"TENANT_API_RATE, default=100"`
	TenantAPIBurst        int     `env:"TENANT_API_BURST, default=200"`
	// TenantFastLaneRate and TenantFastLaneBurst are each tenant's share of
	// the fast lane, in tasks per second and at once, on each dispatch
	// instance: the events of a tenant past it are forwarded to the bulk
	// lanes, so that its backlog does not wait in front of other tenants'
	// events and tasks.
	TenantFastLaneRate  float64 `env:"TENANT_FAST_LANE_RATE, default=1000"`
	TenantFastLaneBurst int     `env:"TENANT_FAST_LANE_BURST, default=2000"`
	// FastLaneTarget is how long the fast lane's work may wait (a task
	// between its dispatch and its turn, a dispatch batch) before the bulk
	// lanes yield to it, down to BulkMinRate tasks per second per stage on
	// each instance (see pipeline.Priority); 0 never yields.
	FastLaneTarget time.Duration `env:"FAST_LANE_TARGET, default=50ms"`
	BulkMinRate    float64       `env:"BULK_MIN_RATE, default=100"`
	// ConsolePeers (host:port) makes the console's live charts draw every
	// instance the host resolves to, scraped at /metrics on the port (the
	// chart sets it to its headless metrics Service); empty: the serving
	// instance's own figures.
	ConsolePeers string `env:"CONSOLE_PEERS"`
	// ValidateEvents checks the data of every event whose type has a
	// schema in the catalog (POST /v1/events answers 422, the dispatcher
	// sends one from the topic to the invalid topic); otherwise only the
	// types marked "validate" are checked. MaxEventTypes bounds a tenant's
	// catalog (0: no bound).
	ValidateEvents bool `env:"VALIDATE_EVENTS, default=false"`
	MaxEventTypes  int  `env:"MAX_EVENT_TYPES, default=1000"`
	// PublicURL lists the URLs clients reach the API by (comma-separated),
	// e.g. https://hooks.example.com: endpoints may not point at them, nor
	// at HTTPAddr, so that no delivery loops back into the API.
	PublicURL []string `env:"PUBLIC_URL"`

	// RelayURL is where deliverers reach this api instance for the
	// listeners of `hookstream listen` streams it holds, e.g.
	// http://10.0.3.7:8080 (default: http:// and the first address of an
	// interface that is not loopback, on HTTPAddr's port; or HTTPAddr's
	// host when it names one). ListenerTimeout is how long a listener
	// whose stream died without a goodbye (its instance killed) lives on.
	RelayURL        string        `env:"RELAY_URL"`
	ListenerTimeout time.Duration `env:"LISTENER_TIMEOUT, default=1m"`

	// DevKafkaPort is where `hookstream dev` runs its embedded Kafka when
	// no brokers are configured (0: any free port).
	DevKafkaPort int `env:"DEV_KAFKA_PORT, default=9092"`

	LogLevel  string `env:"LOG_LEVEL, default=info"`
	LogFormat string `env:"LOG_FORMAT, default=json"`
	// MetricsAddr serves /metrics (and Go's profiles with PProf) apart
	// from the API; empty: no such listener. The default listens on every
	// interface: a Prometheus in another pod scrapes it.
	MetricsAddr string `env:"METRICS_ADDR, default=:9090"`
	// PProf serves Go's profiles under /debug/pprof/ on the metrics address.
	PProf bool `env:"PPROF"`

	// tracing is read from the standard OTEL_* variables (tracing.go).
	tracing tracingConfig
	// tracerProvider, set by tests, takes the place of the one the
	// OTEL_* variables make.
	tracerProvider trace.TracerProvider
}

// loadConfig reads the configuration through l (os environment in main, a
// map in tests).
func loadConfig(ctx context.Context, l envconfig.Lookuper) (Config, error) {
	var c Config
	last := &lastLookup{l: l}
	err := envconfig.ProcessWith(ctx, &envconfig.Config{
		Target:   &c,
		Lookuper: envconfig.PrefixLookuper("HOOKSTREAM_", last),
	})
	if err != nil {
		// go-envconfig names the struct field ("Field: cause"); name the
		// variable instead.
		cause := errors.Unwrap(err)
		if cause == nil {
			cause = err
		}
		return c, fmt.Errorf("config: %s: %w", last.key, cause)
	}
	if c.tracing, err = loadTracing(ctx, l); err != nil {
		return c, err
	}
	if c.InstanceID == "" {
		host, _ := os.Hostname()
		c.InstanceID = host + "-" + strconv.Itoa(os.Getpid())
	}
	return c, c.validate()
}

// lastLookup is a Lookuper that remembers the variable it was last asked
// for: the one at fault when go-envconfig fails, since it reads and decodes
// one field at a time and stops at the first failure.
type lastLookup struct {
	l   envconfig.Lookuper
	key string
}

func (r *lastLookup) Lookup(key string) (string, bool) {
	r.key = key
	return r.l.Lookup(key)
}

func (c *Config) validate() error {
	if _, err := parseSources(*c); err != nil {
		return err
	}
	if len(c.Roles) == 0 {
		return fmt.Errorf("config: HOOKSTREAM_ROLES: no role given (roles: %v)", allRoles)
	}
	for _, r := range c.Roles {
		if !slices.Contains(allRoles, r) {
			return fmt.Errorf("config: HOOKSTREAM_ROLES: unknown role %q (roles: %v)", r, allRoles)
		}
	}
	switch {
	case c.MetricsAddr != "" && c.MetricsAddr == c.HTTPAddr && !strings.HasSuffix(c.MetricsAddr, ":0"):
		return fmt.Errorf("config: HOOKSTREAM_METRICS_ADDR must differ from HOOKSTREAM_HTTP_ADDR: metrics and profiles stay off the API's listener")
	case c.PProf && c.MetricsAddr == "":
		return fmt.Errorf("config: HOOKSTREAM_PPROF needs HOOKSTREAM_METRICS_ADDR: profiles are served there")
	case c.DevKafkaPort < 0 || c.DevKafkaPort > 65535:
		return fmt.Errorf("config: HOOKSTREAM_DEV_KAFKA_PORT must be a port number (0: any free port)")
	case c.TopicPartitions < 1:
		return fmt.Errorf("config: HOOKSTREAM_TOPIC_PARTITIONS must be at least 1")
	case c.RetryJitter < 0 || c.RetryJitter >= 1:
		return fmt.Errorf("config: HOOKSTREAM_RETRY_JITTER must be in [0, 1)")
	case c.LagInterval <= 0:
		return fmt.Errorf("config: HOOKSTREAM_LAG_INTERVAL must be positive")
	case c.DeliveryTimeout <= 0:
		return fmt.Errorf("config: HOOKSTREAM_DELIVERY_TIMEOUT must be positive")
	case c.EndpointConcurrency < 1:
		return fmt.Errorf("config: HOOKSTREAM_ENDPOINT_CONCURRENCY must be at least 1")
	case c.SourceRefresh <= 0:
		return fmt.Errorf("config: HOOKSTREAM_SOURCE_REFRESH must be positive")
	case c.MaxSources < 0:
		return fmt.Errorf("config: HOOKSTREAM_MAX_SOURCES must not be negative (0: no limit)")
	case c.DispatchSessions < 1:
		return fmt.Errorf("config: HOOKSTREAM_DISPATCH_SESSIONS must be at least 1")
	case c.ConsolePeers != "" && !hostPort(c.ConsolePeers):
		return fmt.Errorf("config: HOOKSTREAM_CONSOLE_PEERS must be host:port")
	case c.FastLaneTarget < 0:
		return fmt.Errorf("config: HOOKSTREAM_FAST_LANE_TARGET must not be negative")
	case !(c.BulkMinRate >= 1) || math.IsInf(c.BulkMinRate, 1):
		return fmt.Errorf("config: HOOKSTREAM_BULK_MIN_RATE must be a number, at least 1")
	case c.DeliverConcurrency < 1:
		return fmt.Errorf("config: HOOKSTREAM_DELIVER_CONCURRENCY must be at least 1")
	case c.MaxEventBytes < 1024:
		return fmt.Errorf("config: HOOKSTREAM_MAX_EVENT_BYTES must be at least 1024")
	case c.DisableAfterFailures < 0:
		return fmt.Errorf("config: HOOKSTREAM_DISABLE_AFTER_FAILURES must not be negative")
	case c.ProbeFirst <= 0:
		return fmt.Errorf("config: HOOKSTREAM_PROBE_FIRST must be positive")
	case c.ProbeMax < c.ProbeFirst:
		return fmt.Errorf("config: HOOKSTREAM_PROBE_MAX must be at least HOOKSTREAM_PROBE_FIRST")
	case c.RecoveryPoll <= 0:
		return fmt.Errorf("config: HOOKSTREAM_RECOVERY_POLL must be positive")
	case c.Retention < 0:
		return fmt.Errorf("config: HOOKSTREAM_RETENTION must not be negative (0 keeps everything)")
	case c.RetentionInterval <= 0:
		return fmt.Errorf("config: HOOKSTREAM_RETENTION_INTERVAL must be positive")
	case c.PartitionInterval < time.Hour || c.PartitionInterval%time.Hour != 0:
		return fmt.Errorf("config: HOOKSTREAM_PARTITION_INTERVAL must be a whole number of hours, at least 1h (24h: daily)")
	case c.PartitionsAhead < 1:
		return fmt.Errorf("config: HOOKSTREAM_PARTITIONS_AHEAD must be at least 1")
	case c.KeyCacheTTL <= 0 || c.KeyCacheTTL > time.Minute:
		return fmt.Errorf("config: HOOKSTREAM_KEY_CACHE_TTL must be positive and at most 1m")
	case c.ListenerTimeout < 10*time.Second:
		return fmt.Errorf("config: HOOKSTREAM_LISTENER_TIMEOUT must be at least 10s")
	case c.RelayURL != "" && !validRelayURL(c.RelayURL):
		return fmt.Errorf("config: HOOKSTREAM_RELAY_URL must be an http URL with a host and no path, e.g. http://10.0.3.7:8080")
	case c.LogFormat != "json" && c.LogFormat != "text":
		return fmt.Errorf("config: HOOKSTREAM_LOG_FORMAT must be json or text")
	case c.MaxEndpointsPerTenant < 0:
		return fmt.Errorf("config: HOOKSTREAM_MAX_ENDPOINTS_PER_TENANT must not be negative (0: no limit)")
	case c.MaxEventTypes < 0:
		return fmt.Errorf("HOOKSTREAM_MAX_EVENT_TYPES must not be negative")
	case c.MaxFanout < 0:
		return fmt.Errorf("config: HOOKSTREAM_MAX_FANOUT must not be negative (0: no limit)")
	}
	for _, b := range []struct {
		name  string
		rate  float64
		burst int
	}{{"TENANT_EVENT", c.TenantEventRate, c.TenantEventBurst}, {"TENANT_API", c.TenantAPIRate, c.TenantAPIBurst},
		{"TENANT_FAST_LANE", c.TenantFastLaneRate, c.TenantFastLaneBurst}} {
		switch {
		case b.rate < 0 || math.IsNaN(b.rate) || math.IsInf(b.rate, 0):
			return fmt.Errorf("config: HOOKSTREAM_%s_RATE must be a number of requests per second, 0 or more (0: no limit)", b.name)
		case b.rate > 0 && b.burst < 1:
			return fmt.Errorf("config: HOOKSTREAM_%s_BURST must be at least 1", b.name)
		}
	}
	for _, u := range c.PublicURL {
		if err := api.CheckPublicURL(u); err != nil {
			return fmt.Errorf("config: HOOKSTREAM_PUBLIC_URL: %w", err)
		}
	}
	return nil
}

func (c *Config) has(role string) bool { return slices.Contains(c.Roles, role) }

// probes is the probe schedule of endpoints the failure rule disabled.
func (c *Config) probes() schema.ProbeSchedule {
	return schema.ProbeSchedule{First: c.ProbeFirst, Max: c.ProbeMax}
}

// validRelayURL reports whether u is an http(s) URL with a host and
// nothing after it.
func validRelayURL(u string) bool {
	p, err := url.Parse(strings.TrimRight(u, "/"))
	return err == nil && (p.Scheme == "http" || p.Scheme == "https") && p.Host != "" &&
		p.Path == "" && p.RawQuery == "" && p.Fragment == "" && p.User == nil
}

// hostPort reports whether s is host:port, both present.
func hostPort(s string) bool {
	h, p, err := net.SplitHostPort(s)
	return err == nil && h != "" && p != ""
}
