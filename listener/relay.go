package listener

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/hookstream/hookstream/delivery"
)

// Relay makes a listener's attempts: it posts the signed webhook request
// to the API instance holding the listener's stream and returns what the
// CLI's local URL answered. It is a deliverer's Sender for listeners; the
// Request's URL is the relay's (RelayURL), which hookstream itself chose:
// no tenant input reaches it, so it bypasses the SSRF guard of ordinary
// endpoints, and the loop guard does not apply.
type Relay struct {
	token   string
	maxBody int
	client  *http.Client
}

// NewRelay returns a Relay that authenticates with token (see Token) and
// keeps up to maxBody bytes of a response body.
func NewRelay(token string, maxBody int) *Relay {
	if maxBody <= 0 {
		maxBody = 4096
	}
	return &Relay{token: token, maxBody: maxBody, client: &http.Client{
		Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

// RelayURL is where a deliverer sends the attempts of a listener held by
// the API instance at base (its relay_url).
func RelayURL(base, tenant, id string) string {
	return base + RelayPath + tenant + "/" + id
}

// errNotConnected is a listener whose stream is on no instance any more.
var errNotConnected = errors.New("listener not connected (its stream ended)")

// Send makes one attempt through the relay. Failures to reach the relay
// or the CLI are transport errors (connection, timeout): the task retries
// like any other, until the listener is removed.
func (r *Relay) Send(ctx context.Context, req delivery.Request) delivery.Result {
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	h := http.Header{}
	delivery.SetHeaders(h, req, "hookstream/1")
	rr := relayRequest{Headers: make(map[string]string, len(h)), Body: req.Body, TimeoutMS: timeout.Milliseconds()}
	for k, v := range h {
		rr.Headers[k] = v[0]
	}
	body, err := json.Marshal(rr)
	if err != nil {
		return delivery.Result{Err: fmt.Errorf("relay: %w", err), ErrClass: delivery.ErrClassOther}
	}
	// The relay answers within the timeout; a little more for the hop.
	ctx, cancel := context.WithTimeout(ctx, timeout+2*time.Second)
	defer cancel()
	start := time.Now()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, req.URL, bytes.NewReader(body))
	if err != nil {
		return delivery.Result{Err: fmt.Errorf("relay: %w", err), ErrClass: delivery.ErrClassOther}
	}
	hreq.Header.Set("Authorization", "Bearer "+r.token)
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := r.client.Do(hreq)
	if err != nil {
		class := delivery.ErrClassConnection
		if ctx.Err() != nil {
			class = delivery.ErrClassTimeout
		}
		return delivery.Result{Latency: time.Since(start), Err: errors.New("relay: listener's API instance unreachable"), ErrClass: class}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, int64(r.maxBody)*2+64<<10))
	if err != nil || resp.StatusCode != http.StatusOK {
		if resp.StatusCode == http.StatusNotFound {
			err = errNotConnected
		} else if err == nil {
			err = fmt.Errorf("relay answered %d", resp.StatusCode)
		}
		return delivery.Result{Latency: time.Since(start), Err: fmt.Errorf("relay: %w", err), ErrClass: delivery.ErrClassConnection}
	}
	var f Frame
	if err := json.Unmarshal(raw, &f); err != nil {
		return delivery.Result{Latency: time.Since(start), Err: errors.New("relay: unreadable answer"), ErrClass: delivery.ErrClassOther}
	}
	res := delivery.Result{StatusCode: f.StatusCode, Latency: time.Duration(f.LatencyMicros) * time.Microsecond,
		Body: f.Body, Truncated: f.Truncated}
	if len(res.Body) > r.maxBody {
		res.Body, res.Truncated = res.Body[:r.maxBody], true
	}
	if f.Error != "" {
		res.Err = errors.New("listen: " + f.Error)
		if f.StatusCode == 0 {
			res.ErrClass = delivery.ErrClassConnection
		}
	}
	return res
}
