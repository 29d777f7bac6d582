package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sethvargo/go-envconfig"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// tracingConfig is what decides whether hookstream traces: the standard
// OpenTelemetry variables (no HOOKSTREAM_ prefix). Tracing is off unless
// they ask for it: OTEL_TRACES_EXPORTER=otlp, or an OTLP endpoint. The
// exporter reads the rest of them itself (OTEL_EXPORTER_OTLP_HEADERS,
// _TIMEOUT, _CERTIFICATE, _COMPRESSION…), the SDK the sampler
// (OTEL_TRACES_SAMPLER, _ARG) and the batching (OTEL_BSP_*), the resource
// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES.
type tracingConfig struct {
	SDKDisabled    bool   `env:"OTEL_SDK_DISABLED"`
	Exporter       string `env:"OTEL_TRACES_EXPORTER"`
	Endpoint       string `env:"OTEL_EXPORTER_OTLP_ENDPOINT"`
	TracesEndpoint string `env:"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"`
	Protocol       string `env:"OTEL_EXPORTER_OTLP_PROTOCOL"`
	TracesProtocol string `env:"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"`
}

func loadTracing(ctx context.Context, l envconfig.Lookuper) (tracingConfig, error) {
	var t tracingConfig
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &t, Lookuper: l}); err != nil {
		return t, fmt.Errorf("config: %w", err)
	}
	return t, t.validate()
}

// enabled reports whether the variables ask for traces to be exported.
func (t tracingConfig) enabled() bool {
	switch {
	case t.SDKDisabled:
		return false
	case t.Exporter != "":
		return t.Exporter == "otlp"
	}
	return t.Endpoint != "" || t.TracesEndpoint != ""
}

func (t tracingConfig) validate() error {
	if t.SDKDisabled {
		return nil
	}
	switch t.Exporter {
	case "", "otlp", "none":
	default:
		return fmt.Errorf("config: OTEL_TRACES_EXPORTER=%q: hookstream exports traces over OTLP only (otlp, or none)", t.Exporter)
	}
	p := t.TracesProtocol
	if p == "" {
		p = t.Protocol
	}
	if t.enabled() && p != "" && p != "http/protobuf" {
		return fmt.Errorf("config: OTEL_EXPORTER_OTLP_PROTOCOL=%q: hookstream exports OTLP over http/protobuf only (the collector's port 4318)", p)
	}
	return nil
}

// tracerProvider returns the process's tracer provider: cfg.tracerProvider
// when a test set one, an OTLP one when the variables ask for it, else
// nil (tracing off). shutdown flushes and stops it.
func tracerProvider(ctx context.Context, cfg Config) (tp trace.TracerProvider, shutdown func(), err error) {
	if cfg.tracerProvider != nil {
		return cfg.tracerProvider, func() {}, nil
	}
	if !cfg.tracing.enabled() {
		return nil, func() {}, nil
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("tracing: %w", err)
	}
	// Later sources win: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
	// over hookstream's defaults.
	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithAttributes(attribute.String("service.name", "hookstream"),
			attribute.String("service.instance.id", cfg.InstanceID)),
		resource.WithFromEnv())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, nil, fmt.Errorf("tracing: resource: %w", err)
	}
	sdk := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return sdk, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = sdk.Shutdown(ctx) // spans not exported by then are lost: tracing never holds up a shutdown
	}, nil
}

// describeTracing says, for the start-up log line, where traces go.
func describeTracing(cfg Config) string {
	switch {
	case cfg.tracerProvider != nil:
		return "in process"
	case !cfg.tracing.enabled():
		return "off"
	}
	ep := cfg.tracing.TracesEndpoint
	if ep == "" {
		ep = cfg.tracing.Endpoint
	}
	if ep == "" {
		ep = "http://localhost:4318"
	}
	if i := strings.IndexByte(ep, '?'); i >= 0 {
		ep = ep[:i]
	}
	return "otlp " + ep
}
