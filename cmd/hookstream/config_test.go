package main

import (
	"context"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/hookstream/hookstream/delivery"
	"github.com/hookstream/hookstream/internal/testenv"
)

func loadTestConfig(t *testing.T, env map[string]string) (Config, error) {
	t.Helper()
	return loadConfig(context.Background(), envconfig.MapLookuper(env))
}

func TestLoadConfigDefaults(t *testing.T) {
	c, err := loadTestConfig(t, map[string]string{})
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	if !slices.Equal(c.Roles, []string{RoleAPI, RoleDispatch, RoleDeliver, RoleRetry, RoleSink}) {
		t.Errorf("roles = %v, want all five", c.Roles)
	}
	for _, r := range allRoles {
		if !c.has(r) {
			t.Errorf("default config does not have role %s", r)
		}
	}
	if c.TopicPrefix != "hookstream." {
		t.Errorf("topic prefix = %q, want hookstream.", c.TopicPrefix)
	}
	sched, err := delivery.ParseSchedule(c.RetrySchedule)
	if err != nil {
		t.Errorf("default retry schedule %q does not parse: %v", c.RetrySchedule, err)
	} else if len(sched) == 0 {
		t.Errorf("default retry schedule %q is empty", c.RetrySchedule)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"http addr", c.HTTPAddr, ":8080"},
		{"metrics addr", c.MetricsAddr, ":9090"},
		{"partitions", c.TopicPartitions, int32(12)},
		{"replication", c.TopicReplication, int16(-1)},
		{"jitter", c.RetryJitter, 0.2},
		{"delivery timeout", c.DeliveryTimeout, 15 * time.Second},
		{"deliver concurrency", c.DeliverConcurrency, 512},
		{"max event bytes", c.MaxEventBytes, 1 << 20},
		{"shutdown grace", c.ShutdownGrace, 15 * time.Second},
		{"first probe", c.ProbeFirst, time.Minute},
		{"longest probe wait", c.ProbeMax, 6 * time.Hour},
		{"recovery poll", c.RecoveryPoll, 5 * time.Second},
		{"log level", c.LogLevel, "info"},
		{"log format", c.LogFormat, "json"},
		{"max endpoints per tenant", c.MaxEndpointsPerTenant, 1000},
		{"max fanout", c.MaxFanout, 1000},
		{"tenant event rate", c.TenantEventRate, 100.0},
		{"tenant event burst", c.TenantEventBurst, 200},
		{"tenant api rate", c.TenantAPIRate, 100.0},
		{"tenant api burst", c.TenantAPIBurst, 200},
		{"public urls", len(c.PublicURL), 0},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	if len(c.KafkaBrokers) != 0 || c.DatabaseURL != "" || c.AdminToken != "" || c.SecretKey != "" {
		t.Errorf("connection settings have defaults: %+v", c)
	}
}

func TestLoadConfigInstanceID(t *testing.T) {
	c, err := loadTestConfig(t, map[string]string{})
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	if c.InstanceID == "" || !strings.HasSuffix(c.InstanceID, "-"+strconv.Itoa(os.Getpid())) {
		t.Errorf("default instance id = %q, want host-pid", c.InstanceID)
	}
	c, err = loadTestConfig(t, map[string]string{"HOOKSTREAM_INSTANCE_ID": "node-7"})
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	if c.InstanceID != "node-7" {
		t.Errorf("instance id = %q, want node-7", c.InstanceID)
	}
}

func TestLoadConfigOverrides(t *testing.T) {
	c, err := loadTestConfig(t, map[string]string{
		"HOOKSTREAM_ROLES":                "api,sink",
		"HOOKSTREAM_KAFKA_BROKERS":        "k1:9092,k2:9092",
		"HOOKSTREAM_DATABASE_URL":         "postgres://db/hookstream",
		"HOOKSTREAM_HTTP_ADDR":            "127.0.0.1:9000",
		"HOOKSTREAM_METRICS_ADDR":         "10.0.0.7:9100",
		"HOOKSTREAM_TOPIC_PREFIX":         "acme.hooks.",
		"HOOKSTREAM_TOPIC_PARTITIONS":     "3",
		"HOOKSTREAM_RETRY_SCHEDULE":       "1m,10m",
		"HOOKSTREAM_RETRY_JITTER":         "0",
		"HOOKSTREAM_DELIVERY_TIMEOUT":     "2s",
		"HOOKSTREAM_LOG_FORMAT":           "text",
		"HOOKSTREAM_LOG_LEVEL":            "debug",
		"HOOKSTREAM_MAX_EVENT_BYTES":      "2048",
		"HOOKSTREAM_ALLOWED_TARGET_CIDRS": "127.0.0.0/8",
		"HOOKSTREAM_DEV_KAFKA_PORT":       "0",
		"HOOKSTREAM_RECOVERY_POLL":        "250ms",
		"ROLES":                           "dispatch", // without the prefix: not ours
	})
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	if !slices.Equal(c.Roles, []string{"api", "sink"}) || !c.has(RoleAPI) || c.has(RoleDispatch) {
		t.Errorf("roles = %v, want [api sink]", c.Roles)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"brokers", strings.Join(c.KafkaBrokers, ","), "k1:9092,k2:9092"},
		{"database url", c.DatabaseURL, "postgres://db/hookstream"},
		{"http addr", c.HTTPAddr, "127.0.0.1:9000"},
		{"metrics addr", c.MetricsAddr, "10.0.0.7:9100"},
		{"prefix", c.TopicPrefix, "acme.hooks."},
		{"partitions", c.TopicPartitions, int32(3)},
		{"schedule", c.RetrySchedule, "1m,10m"},
		{"jitter", c.RetryJitter, 0.0},
		{"delivery timeout", c.DeliveryTimeout, 2 * time.Second},
		{"log format", c.LogFormat, "text"},
		{"log level", c.LogLevel, "debug"},
		{"max event bytes", c.MaxEventBytes, 2048},
		{"allowed cidrs", c.AllowedTargetCIDRs, "127.0.0.0/8"},
		{"dev kafka port", c.DevKafkaPort, 0},
		{"recovery poll", c.RecoveryPoll, 250 * time.Millisecond},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestLoadConfigRejects(t *testing.T) {
	tests := []struct {
		name, key, value string
	}{
		{"unknown role", "HOOKSTREAM_ROLES", "api,bogus"},
		{"jitter 1.5", "HOOKSTREAM_RETRY_JITTER", "1.5"},
		{"jitter 1", "HOOKSTREAM_RETRY_JITTER", "1"},
		{"negative jitter", "HOOKSTREAM_RETRY_JITTER", "-0.1"},
		{"jitter not a number", "HOOKSTREAM_RETRY_JITTER", "lots"},
		{"partitions 0", "HOOKSTREAM_TOPIC_PARTITIONS", "0"},
		{"partitions not a number", "HOOKSTREAM_TOPIC_PARTITIONS", "twelve"},
		{"log format xml", "HOOKSTREAM_LOG_FORMAT", "xml"},
		{"delivery timeout 0", "HOOKSTREAM_DELIVERY_TIMEOUT", "0s"},
		{"delivery timeout not a duration", "HOOKSTREAM_DELIVERY_TIMEOUT", "15"},
		{"concurrency 0", "HOOKSTREAM_DELIVER_CONCURRENCY", "0"},
		{"max event bytes too small", "HOOKSTREAM_MAX_EVENT_BYTES", "100"},
		{"negative endpoint limit", "HOOKSTREAM_MAX_ENDPOINTS_PER_TENANT", "-1"},
		{"negative fanout", "HOOKSTREAM_MAX_FANOUT", "-5"},
		{"negative event rate", "HOOKSTREAM_TENANT_EVENT_RATE", "-1"},
		{"negative fast lane rate", "HOOKSTREAM_TENANT_FAST_LANE_RATE", "-1"},
		{"fast lane without a burst", "HOOKSTREAM_TENANT_FAST_LANE_BURST", "0"},
		{"event rate not a number", "HOOKSTREAM_TENANT_EVENT_RATE", "fast"},
		{"infinite event rate", "HOOKSTREAM_TENANT_EVENT_RATE", "+Inf"},
		{"event burst 0", "HOOKSTREAM_TENANT_EVENT_BURST", "0"},
		{"negative api rate", "HOOKSTREAM_TENANT_API_RATE", "-0.5"},
		{"api burst 0", "HOOKSTREAM_TENANT_API_BURST", "0"},
		{"public url without scheme", "HOOKSTREAM_PUBLIC_URL", "hooks.example.com"},
		{"public url of another scheme", "HOOKSTREAM_PUBLIC_URL", "ftp://hooks.example.com"},
		{"public url without host", "HOOKSTREAM_PUBLIC_URL", "https://"},
		{"second public url bad", "HOOKSTREAM_PUBLIC_URL", "https://a.example.com,https://b.example.com:99999"},
		{"dev kafka port 65536", "HOOKSTREAM_DEV_KAFKA_PORT", "65536"},
		{"console peers without a port", "HOOKSTREAM_CONSOLE_PEERS", "hookstream-metrics"},
		{"console peers as a URL", "HOOKSTREAM_CONSOLE_PEERS", "http://hookstream-metrics:9090"},
		{"negative fast lane target", "HOOKSTREAM_FAST_LANE_TARGET", "-1s"},
		{"bulk min rate 0", "HOOKSTREAM_BULK_MIN_RATE", "0"},
		{"first probe 0", "HOOKSTREAM_PROBE_FIRST", "0s"},
		{"first probe not a duration", "HOOKSTREAM_PROBE_FIRST", "soon"},
		{"probe max below the first", "HOOKSTREAM_PROBE_MAX", "30s"},
		{"recovery poll 0", "HOOKSTREAM_RECOVERY_POLL", "0s"},
		{"negative recovery poll", "HOOKSTREAM_RECOVERY_POLL", "-1s"},
		{"recovery poll not a duration", "HOOKSTREAM_RECOVERY_POLL", "5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadTestConfig(t, map[string]string{tt.key: tt.value})
			if err == nil {
				t.Fatalf("%s=%s accepted, want an error", tt.key, tt.value)
			}
			if !strings.Contains(err.Error(), tt.key) {
				t.Errorf("error %q does not name %s", err, tt.key)
			}
		})
	}
}

// Metrics and profiles never share the API's listener; without a metrics
// listener there is nowhere to serve profiles.
func TestLoadConfigMetricsAddr(t *testing.T) {
	for _, env := range []map[string]string{
		{"HOOKSTREAM_METRICS_ADDR": ":8080"},
		{"HOOKSTREAM_METRICS_ADDR": "127.0.0.1:7000", "HOOKSTREAM_HTTP_ADDR": "127.0.0.1:7000"},
		{"HOOKSTREAM_METRICS_ADDR": "", "HOOKSTREAM_PPROF": "true"},
	} {
		if _, err := loadTestConfig(t, env); err == nil || !strings.Contains(err.Error(), "HOOKSTREAM_METRICS_ADDR") {
			t.Errorf("%v: error %v, want one naming HOOKSTREAM_METRICS_ADDR", env, err)
		}
	}
	c, err := loadTestConfig(t, map[string]string{"HOOKSTREAM_METRICS_ADDR": ""})
	if err != nil || c.MetricsAddr != "" {
		t.Errorf("an empty HOOKSTREAM_METRICS_ADDR: %q, %v; want no metrics listener", c.MetricsAddr, err)
	}
}

func TestLoadConfigLimits(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want func(c Config) bool
	}{
		{"limits set", map[string]string{
			"HOOKSTREAM_MAX_ENDPOINTS_PER_TENANT": "50", "HOOKSTREAM_MAX_FANOUT": "20",
			"HOOKSTREAM_TENANT_EVENT_RATE": "0.5", "HOOKSTREAM_TENANT_EVENT_BURST": "1",
			"HOOKSTREAM_TENANT_API_RATE": "1000", "HOOKSTREAM_TENANT_API_BURST": "5000",
		}, func(c Config) bool {
			return c.MaxEndpointsPerTenant == 50 && c.MaxFanout == 20 && c.TenantEventRate == 0.5 &&
				c.TenantEventBurst == 1 && c.TenantAPIRate == 1000 && c.TenantAPIBurst == 5000
		}},
		{"no limits: 0 everywhere, bursts then unused", map[string]string{
			"HOOKSTREAM_MAX_ENDPOINTS_PER_TENANT": "0", "HOOKSTREAM_MAX_FANOUT": "0",
			"HOOKSTREAM_TENANT_EVENT_RATE": "0", "HOOKSTREAM_TENANT_EVENT_BURST": "0",
			"HOOKSTREAM_TENANT_API_RATE": "0", "HOOKSTREAM_TENANT_API_BURST": "0",
		}, func(c Config) bool {
			return c.MaxEndpointsPerTenant == 0 && c.MaxFanout == 0 && c.TenantEventRate == 0 && c.TenantAPIRate == 0
		}},
		{"public urls", map[string]string{
			"HOOKSTREAM_PUBLIC_URL": "https://hooks.example.com,http://hookstream-api.hooks.svc:80",
		}, func(c Config) bool {
			return slices.Equal(c.PublicURL, []string{"https://hooks.example.com", "http://hookstream-api.hooks.svc:80"})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadTestConfig(t, tt.env)
			if err != nil {
				t.Fatalf("loadConfig: %v", err)
			}
			if !tt.want(c) {
				t.Errorf("config = %+v, not what %v asks", c, tt.env)
			}
		})
	}
}

func TestRelayURL(t *testing.T) {
	iface, ok := interfaceAddr()
	for _, c := range []struct {
		configured, addr, want string
	}{
		{"http://10.0.3.7:8080/", "0.0.0.0:8080", "http://10.0.3.7:8080"},
		{"", "127.0.0.1:4321", "http://127.0.0.1:4321"},
		{"", "10.1.2.3:8080", "http://10.1.2.3:8080"},
		{"", "[::1]:8080", "http://[::1]:8080"},
	} {
		addr, err := net.ResolveTCPAddr("tcp", c.addr)
		testenv.Must(t, err, "resolve")
		if got := relayURL(c.configured, addr); got != c.want {
			t.Errorf("relayURL(%q, %s) = %q, want %q", c.configured, c.addr, got, c.want)
		}
	}
	addr, _ := net.ResolveTCPAddr("tcp", "0.0.0.0:8080")
	got := relayURL("", addr)
	if ok && got != "http://"+netip.AddrPortFrom(iface, 8080).String() || !ok && got != "http://127.0.0.1:8080" {
		t.Errorf("relayURL on every interface = %q (interface address %v, %v)", got, iface, ok)
	}
	for _, bad := range []string{"10.0.3.7:8080", "http://10.0.3.7:8080/x", "ftp://h", "http://u:p@h"} {
		if validRelayURL(bad) {
			t.Errorf("validRelayURL(%q) = true", bad)
		}
	}
}
