package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync/atomic"
)

// tracingRuns is the tracing scenario: max's load four times, side by
// side: tracing off (no OTEL_* variable), off with a traceparent on every
// record (passed on to the webhooks as it came), on (every span exported
// over OTLP/HTTP to a collector in this process that counts and discards
// them), and off again, to show how much two runs of the same settings
// differ on this machine. Each result's VsMax is its rate ÷ the first
// run's.
func (e *env) tracingRuns(ctx context.Context, base plan) []Result {
	col, err := startCollector()
	if err != nil {
		return []Result{{Scenario: "tracing", Error: err.Error()}}
	}
	defer col.close()
	runs := []struct {
		name        string
		traceparent bool
		env         map[string]string
	}{
		{"tracing-off", false, map[string]string{"OTEL_TRACES_EXPORTER": "none"}},
		{"tracing-off-traceparent", true, map[string]string{"OTEL_TRACES_EXPORTER": "none"}},
		{"tracing-on", true, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + col.addr}},
		{"tracing-off-again", false, map[string]string{"OTEL_TRACES_EXPORTER": "none"}},
	}
	var out []Result
	var first float64
	for _, r := range runs {
		if ctx.Err() != nil {
			break
		}
		p := base
		p.name, p.traceparent, p.env = r.name, r.traceparent, r.env
		fmt.Fprintf(os.Stderr, "\n== %s: %d endpoints, %d events\n", r.name, p.endpoints, p.events)
		before := col.requests.Load()
		res := e.run(ctx, p)
		res.Scenario = r.name
		if first == 0 {
			first = res.PerSec
		} else if first > 0 {
			res.VsMax = res.PerSec / first
		}
		if n := col.requests.Load() - before; n > 0 {
			fmt.Fprintf(os.Stderr, "[%s] the collector got %d export requests, %d bytes in all\n", r.name, n, col.bytes.Load())
		}
		out = append(out, res)
	}
	return out
}

// collector is an OTLP/HTTP endpoint that reads and discards what it is
// sent, counting it.
type collector struct {
	addr     string
	srv      *http.Server
	requests atomic.Int64
	bytes    atomic.Int64
}

func startCollector() (*collector, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	c := &collector{addr: ln.Addr().String()}
	c.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		c.requests.Add(1)
		c.bytes.Add(n)
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	})}
	go func() { _ = c.srv.Serve(ln) }()
	return c, nil
}

func (c *collector) close() { _ = c.srv.Close() }
