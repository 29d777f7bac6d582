package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/api"
	"github.com/hookstream/hookstream/console"
	"github.com/hookstream/hookstream/listener"
	"github.com/hookstream/hookstream/pipeline"
	"github.com/hookstream/hookstream/producer"
)

// serveMetrics starts the server of /metrics and, with HOOKSTREAM_PPROF,
// Go's profiles under /debug/pprof/ on cfg.MetricsAddr, apart from the
// API's listener: what it shows (the profiles hold the command line, the
// heap and every goroutine) is for the operator's network, not tenants'.
// It returns the address it listens on, "" when MetricsAddr is empty.
func (p *process) serveMetrics() (string, error) {
	if p.cfg.MetricsAddr == "" {
		return "", nil
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(withoutFamilies{p.reg, misnamedKafkaGauges}, promhttp.HandlerOpts{}))
	if p.cfg.PProf {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	ln, err := net.Listen("tcp", p.cfg.MetricsAddr)
	if err != nil {
		return "", fmt.Errorf("metrics: %w", err)
	}
	p.closers = append(p.closers, func() { _ = ln.Close() })
	p.serve("metrics", ln, mux)
	return ln.Addr().String(), nil
}

// serveHTTP starts the HTTP server on cfg.HTTPAddr: the API and health
// when the process runs the api role, health alone otherwise. It returns
// the address it listens on.
func (p *process) serveHTTP() (string, error) {
	ln, err := net.Listen("tcp", p.cfg.HTTPAddr)
	if err != nil {
		return "", fmt.Errorf("http: %w", err)
	}
	p.closers = append(p.closers, func() { _ = ln.Close() })
	var handler http.Handler
	if p.cfg.has(RoleAPI) {
		// No linger: each POST /v1/events waits for its record to be
		// stored, and a linger (franz-go's default is 10 ms) would be
		// added to every request. Requests that arrive while a produce
		// request is in flight still share the next one: up to five are
		// in flight per broker, and the records that wait are sent
		// together.
		pub, err := p.kafkaClient("api", kgo.ProducerLinger(0))
		if err != nil {
			return "", err
		}
		tasks := &pipeline.Queue{Client: pub, Topics: p.topics}
		// A recovery can enqueue a day of deliveries at once: the bulk
		// lane keeps them from waiting in front of every tenant's new ones.
		bulk := &pipeline.Queue{Client: pub, Topics: p.topics, Bulk: true}
		jobs := &pipeline.Recoverer{Store: p.db, Tasks: bulk, Log: p.log.With("component", "jobs")}
		srv := &api.Server{
			Store: p.db, Publisher: producer.Wrap(pub, producer.WithTopic(p.topics.Events()), producer.WithMaxBytes(p.cfg.MaxEventBytes)),
			Tasks: tasks, Guard: p.allowed, AdminToken: p.cfg.AdminToken, JobCreated: jobs.Wake,
			Quarantine: p.db, Redriver: &pipeline.Redriver{Client: pub, Topics: p.topics},
			KeyCacheTTL: p.cfg.KeyCacheTTL, MaxEventBytes: int64(p.cfg.MaxEventBytes), DefaultTimeout: p.cfg.DeliveryTimeout,
			MaxEndpoints: p.cfg.MaxEndpointsPerTenant, MaxFanout: p.cfg.MaxFanout,
			TopicPrefix: p.cfg.TopicPrefix, MaxSources: p.cfg.MaxSources,
			Catalog: p.catalog, MaxEventTypes: p.cfg.MaxEventTypes, Tracer: p.tracer,
			EventRate:  api.RateLimit{Rate: p.cfg.TenantEventRate, Burst: p.cfg.TenantEventBurst},
			CallRate:   api.RateLimit{Rate: p.cfg.TenantAPIRate, Burst: p.cfg.TenantAPIBurst},
			ListenAddr: ln.Addr().String(), PublicURLs: p.cfg.PublicURL,
			Log: p.log.With("component", "api"),
		}
		if p.table != nil {
			srv.EndpointChanged = func(ctx context.Context, id string) {
				if err := p.table.Refresh(ctx, id); err != nil {
					p.log.Warn("endpoint refresh failed", "endpoint_id", id, "err", err)
				}
			}
		}
		hub := &listener.Hub{Store: p.db, Token: listener.Token(p.key), Timeout: p.cfg.ListenerTimeout, Heartbeat: p.cfg.ListenerTimeout / 4,
			MaxResponseBody: p.cfg.ResponseBodyLimit, MaxBodyBytes: 2*int64(p.cfg.MaxEventBytes) + 64<<10,
			Log: p.log.With("component", "listen")}
		srv.Feed, srv.Listeners, srv.RelayURL = p.db, hub, relayURL(p.cfg.RelayURL, ln.Addr())
		p.start("listeners", func(ctx context.Context) error { hub.Run(ctx); return nil })
		handler = p.withConsole(srv)
		p.start("jobs", jobs.Run)
		// Ends pauses whose time is up, and replays what endpoints that
		// can be sent to again still have parked.
		resumer := &pipeline.Resumer{Store: p.db, Tasks: tasks, Poll: p.cfg.RecoveryPoll, Changed: srv.EndpointChanged,
			Log: p.log.With("component", "resume")}
		p.start("resume", resumer.Run)
		// Probes endpoints the failure rule disabled, through the
		// deliverers; the sink re-enables those that answer.
		prober := &pipeline.Prober{Store: p.db, Tasks: tasks, Schedule: p.cfg.probes(), Poll: p.cfg.RecoveryPoll,
			Metrics: p.metrics, Log: p.log.With("component", "probe")}
		p.start("probe", prober.Run)
		p.startRetention()
		p.startOrderingPrune()
	} else {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
		mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
			ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
			defer cancel()
			if err := p.db.Ping(ctx); err != nil {
				http.Error(w, "postgres unavailable", http.StatusServiceUnavailable)
				return
			}
			_, _ = w.Write([]byte("ok\n"))
		})
		handler = mux
	}
	p.serve("http", ln, handler)
	return ln.Addr().String(), nil
}

// withConsole serves the web console and the tenants' portals (package
// console) beside the API, and lets the API open portal sessions.
func (p *process) withConsole(srv *api.Server) http.Handler {
	c := &console.Server{Store: p.db, Sessions: p.db, AdminToken: p.cfg.AdminToken, Metrics: p.reg, Peers: p.cfg.ConsolePeers,
		Secure: overTLS(p.cfg.PublicURL), Log: p.log.With("component", "console")}
	srv.Portals = c
	apiHandler := srv.Handler()
	c.API = apiHandler
	p.start("console", func(ctx context.Context) error {
		c.Run(ctx, 5*time.Second)
		return nil
	})
	pages := c.Handler()
	mux := http.NewServeMux()
	mux.Handle("/console/", pages)
	mux.Handle("/portal/", pages)
	mux.Handle("/", apiHandler)
	return mux
}

// overTLS reports whether clients reach hookstream over https (a public
// URL says so): the console's cookies are then Secure.
func overTLS(publicURLs []string) bool {
	for _, u := range publicURLs {
		if strings.HasPrefix(strings.ToLower(u), "https://") {
			return true
		}
	}
	return false
}

// serve serves handler on ln until the process stops, then shuts down
// within the shutdown grace.
func (p *process) serve(name string, ln net.Listener, handler http.Handler) {
	hs := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		IdleTimeout: 2 * time.Minute, ErrorLog: slog.NewLogLogger(p.log.Handler(), slog.LevelWarn)}
	p.start(name, func(ctx context.Context) error {
		errc := make(chan error, 1)
		go func() { errc <- hs.Serve(ln) }()
		select {
		case err := <-errc:
			return err
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.ShutdownGrace)
			defer cancel()
			err := hs.Shutdown(sctx)
			<-errc
			if errors.Is(err, context.DeadlineExceeded) {
				return nil
			}
			return err
		}
	})
}

// relayURL is where deliverers reach this instance's listener relay: the
// configured URL, or http:// and the address the API listens on (the
// first address of an interface that is not loopback, when it listens on
// every interface: the pod's address, on Kubernetes).
func relayURL(configured string, addr net.Addr) string {
	if configured != "" {
		return strings.TrimRight(configured, "/")
	}
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return ""
	}
	ip := ap.Addr()
	if ip.IsUnspecified() {
		ip = netip.IPv6Loopback()
		if ap.Addr().Is4() || ap.Addr().Is4In6() {
			ip = netip.AddrFrom4([4]byte{127, 0, 0, 1})
		}
		if found, ok := interfaceAddr(); ok {
			ip = found
		}
	}
	return "http://" + netip.AddrPortFrom(ip.Unmap(), ap.Port()).String()
}

// interfaceAddr returns the first global unicast address of an interface
// that is up, IPv4 first.
func interfaceAddr() (netip.Addr, bool) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return netip.Addr{}, false
	}
	var v6 netip.Addr
	for _, a := range addrs {
		pfx, err := netip.ParsePrefix(a.String())
		if err != nil || !pfx.Addr().IsGlobalUnicast() {
			continue
		}
		if pfx.Addr().Is4() {
			return pfx.Addr(), true
		}
		if !v6.IsValid() {
			v6 = pfx.Addr()
		}
	}
	return v6, v6.IsValid()
}
