package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// ingestTenant is the tenant whose API key publishes in the ingest
// scenario.
const ingestTenant = "ingest"

// Ingest is what the ingest scenario measured of POST /v1/events alone,
// before the pipeline ran: the API process and Kafka, with clients
// concurrent requests.
type Ingest struct {
	Clients   int     `json:"clients"`
	Requests  int64   `json:"requests"`     // every POST, the repeated ones too
	Accepted  int64   `json:"accepted"`     // answered 202
	Repeats   int64   `json:"repeats"`      // POSTs of an Idempotency-Key already accepted
	Refused   int64   `json:"refused"`      // answered anything but 202
	Errors    int64   `json:"errors"`       // no answer
	Secs      float64 `json:"seconds"`      // first request to last answer
	PerSec    float64 `json:"events_per_s"` // distinct events accepted per second
	ReqPerSec float64 `json:"requests_per_s"`
	Latency   Summary `json:"request_latency"`
	CoresAPI  float64 `json:"cores_api"`   // the API process
	CoresKafk float64 `json:"cores_kafka"` // the broker
	CoresPG   float64 `json:"cores_postgres"`
	CoresBnch float64 `json:"cores_bench"` // the clients
	Other     float64 `json:"cores_other"`
	FirstErr  string  `json:"first_error,omitempty"`
}

// createKey makes an API key of tenant through the admin API.
func (d *deployment) createKey(ctx context.Context, apiAddr, tenant string) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+apiAddr+"/v1/tenants/"+tenant+"/keys",
		bytes.NewReader([]byte(`{"name":"bench"}`)))
	req.Header.Set("Authorization", "Bearer "+d.adminTok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("create key: %w", err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("create key: %s: %s", resp.Status, bytes.TrimSpace(rb))
	}
	var k struct{ Key string }
	if err := json.Unmarshal(rb, &k); err != nil || k.Key == "" {
		return "", fmt.Errorf("create key: no key in %s", rb)
	}
	return k.Key, nil
}

// ingestHTTP publishes events 0..n-1 through POST /v1/events of the API at
// apiAddr with clients concurrent clients, each event's Idempotency-Key its
// bench id. Every repeat-th event is posted twice (a client retrying with
// the same key): both must be answered 202 and the event delivered once.
func ingestHTTP(ctx context.Context, apiAddr, key string, n, clients, repeat int, pub *publisher,
	typ func(seq int) string) Ingest {
	res := Ingest{Clients: clients}
	tr := &http.Transport{MaxIdleConns: clients, MaxIdleConnsPerHost: clients, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	url := "http://" + apiAddr + "/v1/events"
	var next atomic.Int64
	var firstErr sync.Once
	lats := make([][]time.Duration, clients)
	post := func(seq int) (int, error) {
		body := make([]byte, 0, 96+len(pub.pad))
		body = append(body, `{"type":"`...)
		body = append(body, typ(seq)...)
		body = append(body, `","data":`...)
		body = append(body, eventBody(seq, time.Now().UnixNano(), pub.pad)...)
		body = append(body, '}')
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", pub.eventID(seq))
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			return resp.StatusCode, fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(b))
		}
		return resp.StatusCode, nil
	}
	t0 := time.Now()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for ctx.Err() == nil {
				seq := int(next.Add(1) - 1)
				if seq >= n {
					return
				}
				times := 1
				if repeat > 0 && seq%repeat == 0 {
					times = 2
				}
				accepted := false
				for range times {
					start := time.Now()
					code, err := post(seq)
					lats[c] = append(lats[c], time.Since(start))
					atomic.AddInt64(&res.Requests, 1)
					switch {
					case code == http.StatusAccepted:
						if !accepted {
							accepted = true
							atomic.AddInt64(&res.Accepted, 1)
							pub.acked.Add(1)
						} else {
							atomic.AddInt64(&res.Repeats, 1)
						}
					case code != 0:
						atomic.AddInt64(&res.Refused, 1)
					default:
						atomic.AddInt64(&res.Errors, 1)
					}
					if err != nil {
						firstErr.Do(func() { res.FirstErr = err.Error() })
					}
				}
				pub.sent.Add(1)
			}
		})
	}
	wg.Wait()
	d := time.Since(t0)
	res.Secs = d.Seconds()
	res.PerSec = Rate(res.Accepted, d)
	res.ReqPerSec = Rate(res.Requests, d)
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	res.Latency = Summarize(all)
	fmt.Fprintf(os.Stderr, "[ingest] %d requests (%d repeats) in %.1fs: %.0f events/s accepted, %.0f requests/s, p50 %.1f ms p99 %.1f ms, %d refused, %d errors\n",
		res.Requests, res.Repeats, res.Secs, res.PerSec, res.ReqPerSec, res.Latency.P50, res.Latency.P99, res.Refused, res.Errors)
	return res
}
