package console

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// maxPeerMetrics bounds what one instance's /metrics may send.
const maxPeerMetrics = 16 << 20

// peers gathers the metrics of every instance of the deployment, so that
// the live charts draw the whole of it, whichever instances do the work:
// the addresses the name resolves to (a headless Service's pods), each
// scraped at /metrics on the port. An instance that does not answer is left
// out of the sample (the others still count).
type peers struct {
	host, port string
	client     *http.Client
	// lookup resolves host to the instances' addresses.
	lookup  func(ctx context.Context, host string) ([]string, error)
	timeout time.Duration
}

// newPeers returns the gatherer of the instances behind hostport
// (host:port).
func newPeers(hostport string) (*peers, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil || host == "" || port == "" {
		return nil, fmt.Errorf("console: peers %q: want host:port", hostport)
	}
	return &peers{host: host, port: port, timeout: 2 * time.Second, lookup: net.DefaultResolver.LookupHost,
		client: &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 1, IdleConnTimeout: time.Minute},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}, nil
}

// Gather scrapes every peer at once and returns their families together
// (the same family once per peer). It fails only when the name does not
// resolve or no peer answers.
func (p *peers) Gather() ([]*dto.MetricFamily, error) {
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	defer cancel()
	addrs, err := p.lookup(ctx, p.host)
	if err != nil {
		return nil, fmt.Errorf("console: peers: %w", err)
	}
	var (
		mu   sync.Mutex
		out  []*dto.MetricFamily
		ok   int
		last error
		wg   sync.WaitGroup
	)
	for _, a := range addrs {
		wg.Go(func() {
			fams, err := p.scrape(ctx, net.JoinHostPort(a, p.port))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				last = err
				return
			}
			ok++
			out = append(out, fams...)
		})
	}
	wg.Wait()
	if ok == 0 && last != nil {
		return nil, last
	}
	return out, nil
}

func (p *peers) scrape(ctx context.Context, addr string) ([]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("console: peer %s: %w", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("console: peer %s: HTTP %d", addr, resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	m, err := parser.TextToMetricFamilies(io.LimitReader(resp.Body, maxPeerMetrics))
	if err != nil {
		return nil, fmt.Errorf("console: peer %s: %w", addr, err)
	}
	out := make([]*dto.MetricFamily, 0, len(m))
	name, value := instanceLabel, addr
	for _, f := range m {
		for _, mt := range f.GetMetric() {
			mt.Label = append(mt.Label, &dto.LabelPair{Name: &name, Value: &value})
		}
		out = append(out, f)
	}
	return out, nil
}
