package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/spf13/cobra"

	"github.com/hookstream/hookstream/api"
	"github.com/hookstream/hookstream/delivery"
	"github.com/hookstream/hookstream/listener"
	"github.com/hookstream/hookstream/schema"
)

// streamLost is a listen stream that ended without Ctrl-C: exit 7.
type streamLost struct{ err error }

func (e streamLost) Error() string { return "stream to the API lost: " + e.err.Error() }
func (e streamLost) Unwrap() error { return unreachableError{e.err} }

func (c *cli) listenCmd() *cobra.Command {
	var (
		forward, secret string
		events          []string
		timeout         time.Duration
	)
	cmd := &cobra.Command{
		Use:   "listen --forward-to http://localhost:3000/hook [--events 'invoice.*']",
		Short: "Receive the tenant's webhooks on this machine, forwarded to a local URL",
		Long: `Receive your tenant's webhooks on a machine with no public URL, as Stripe's
'stripe listen' does. hookstream registers a temporary endpoint (a listener)
for your tenant that lives as long as this command: each event matching
--events (default: all) is delivered to --forward-to, signed exactly like a
real webhook with the secret printed at start (whsec_…), and one line per
delivery shows its time, type, status and latency. Attempts are recorded
like any other, under the listener's endpoint id; failures are retried on
the server's schedule while the listener lives.

Ctrl-C ends it (exit 0) and removes the listener. A stream lost once it
was ready is opened again, with the same secret (events published in
between go to the old listener, and are not forwarded); --secret gives the
secret to use from the start. A listener whose stream died without a
goodbye is removed by the server after HOOKSTREAM_LISTENER_TIMEOUT.
--output json prints one JSON object per delivery.`,
		Example: `  hookstream listen --forward-to http://localhost:3000/hook
  hookstream listen --forward-to http://localhost:3000/hook --events 'invoice.*,customer.created'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			target, err := url.Parse(forward)
			if err != nil || (target.Scheme != "http" && target.Scheme != "https") || target.Host == "" {
				return usageError{fmt.Errorf("--forward-to %q: want an http or https URL such as http://localhost:3000/hook", forward)}
			}
			for _, p := range events {
				if err := schema.ValidatePattern(p); err != nil {
					return usageError{fmt.Errorf("--events: %w", err)}
				}
			}
			if secret != "" {
				if _, err := delivery.ParseSecret(secret); err != nil || !strings.HasPrefix(secret, delivery.SecretPrefix) {
					return usageError{errors.New("--secret: want a whsec_ signing secret of 24 to 64 bytes")}
				}
			}
			client, err := c.api()
			if err != nil {
				return err
			}
			l := &listen{c: c, api: client, forward: target.String(), events: events, timeout: timeout, secret: secret,
				local: &http.Client{Timeout: timeout, CheckRedirect: func(*http.Request, []*http.Request) error {
					return http.ErrUseLastResponse
				}}}
			return l.run(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&forward, "forward-to", "", "the local URL deliveries are posted to (required)")
	cmd.Flags().StringSliceVar(&events, "events", nil, "event type patterns to receive, comma-separated or repeated (default: *)")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Second, "how long the local URL may take to answer")
	cmd.Flags().StringVar(&secret, "secret", "", "the whsec_ secret to sign with, e.g. your app's (default: a new one)")
	_ = cmd.MarkFlagRequired("forward-to")
	return cmd
}

// listen is one `hookstream listen` run.
type listen struct {
	c       *cli
	api     *apiClient
	forward string
	events  []string
	timeout time.Duration
	local   *http.Client
	secret  string // the listener's, once known: kept across reconnections
	// wasReady: a stream was ready once; a lost one is opened again.
	wasReady bool
	out      sync.Mutex // one line at a time
}

// maxLocalBody is what a result carries back of the local URL's answer.
const maxLocalBody = 4096

// run keeps a stream open until Ctrl-C. A stream lost once it was ready
// is opened again (a new listener, the same secret), after a pause that
// grows to 30 s; one refused by the API, or a listener deleted, ends it.
func (l *listen) run(ctx context.Context) error {
	pause := time.Second
	for {
		ready, err := l.stream(ctx)
		switch {
		case err == nil:
			return nil // Ctrl-C
		case ctx.Err() != nil:
			return ctx.Err()
		case !l.wasReady || errors.Is(err, errDeleted):
			return err // never ready: a wrong URL or token wants saying now
		}
		if _, refused := errors.AsType[*apiError](err); refused {
			return err
		}
		if ready {
			pause = time.Second
		}
		fmt.Fprintf(l.c.stderr, "Connection lost (%v); reconnecting in %v…\n", err, pause)
		select {
		case <-ctx.Done():
			fmt.Fprintln(l.c.stderr, "Stopped.")
			return nil
		case <-time.After(pause):
		}
		pause = min(2*pause, 30*time.Second)
	}
}

// errDeleted is a listener deleted through the API, or reaped.
var errDeleted = errors.New("the listener was deleted")

// stream opens one stream and carries its deliveries until it ends; ready
// reports whether the API's ready frame came. A nil error is Ctrl-C.
func (l *listen) stream(ctx context.Context) (ready bool, err error) {
	u := *l.api.base
	u.Scheme = map[string]string{"http": "ws", "https": "wss"}[u.Scheme]
	u.Path = strings.TrimRight(u.Path, "/") + "/v1/listen"
	if len(l.events) > 0 {
		u.RawQuery = url.Values{"events": {strings.Join(l.events, ",")}}.Encode()
	}
	h := http.Header{"Authorization": {"Bearer " + l.api.token}, "User-Agent": {"hookstream-cli/1"}}
	if l.api.tenant != "" {
		h.Set("X-Hookstream-Tenant", l.api.tenant)
	}
	if l.secret != "" {
		h.Set(api.ListenerSecretHeader, l.secret)
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	conn, resp, err := websocket.Dial(dctx, u.String(), &websocket.DialOptions{HTTPHeader: h})
	cancel()
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			if _, aerr := checkAnswer(resp, body); aerr != nil {
				return false, aerr
			}
		}
		return false, unreachableError{redactErr(err)}
	}
	defer conn.CloseNow()
	conn.SetReadLimit(64 << 20)

	_, b, err := conn.Read(ctx)
	var first listener.Frame
	if err == nil && (json.Unmarshal(b, &first) != nil || first.Type != listener.FrameReady) {
		err = errors.New("the API's first frame is not ready")
	}
	if err != nil {
		if ctx.Err() != nil {
			return false, nil
		}
		return false, streamLost{err}
	}
	l.banner(first, l.wasReady)
	l.secret, l.wasReady = first.Secret, true

	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		_, b, err := conn.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				// Ctrl-C: say goodbye, so that the listener goes now.
				_ = conn.Close(websocket.StatusNormalClosure, "bye")
				if !l.c.json() {
					fmt.Fprintf(l.c.stderr, "Stopped. Listener %s removed.\n", first.Listener)
				}
				return true, nil
			}
			if websocket.CloseStatus(err) == listener.CloseDeleted {
				return true, streamLost{errDeleted}
			}
			return true, streamLost{err}
		}
		var f listener.Frame
		if json.Unmarshal(b, &f) != nil || f.Type != listener.FrameDelivery {
			continue // a frame of a later version: not for us
		}
		wg.Go(func() {
			res := l.deliver(ctx, f)
			raw, _ := json.Marshal(res)
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			_ = conn.Write(wctx, websocket.MessageText, raw)
		})
	}
}

// banner tells a person the stream is ready: the first time with the
// secret, after a reconnection with the new listener.
func (l *listen) banner(r listener.Frame, again bool) {
	if l.c.json() {
		return
	}
	if again {
		fmt.Fprintf(l.c.stderr, "Reconnected. Listener: %s; the same signing secret.\n", r.Listener)
		return
	}
	fmt.Fprintf(l.c.stderr, `Ready. Forwarding %s events of tenant %s to %s
Listener:      %s (deliveries and attempts are recorded under it)
Signing secret: %s
               (verify the webhook-signature header with it; shown only now)
Ctrl-C to stop.
`, strings.Join(r.EventTypes, ", "), r.Tenant, l.forward, r.Listener, r.Secret)
}

// deliver posts a delivery to the local URL, prints its line and returns
// the result frame.
func (l *listen) deliver(ctx context.Context, f listener.Frame) listener.Frame {
	res := listener.Frame{Type: listener.FrameResult, ID: f.ID}
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.forward, bytes.NewReader(f.Body))
	if err == nil {
		for k, v := range f.Headers {
			req.Header.Set(k, v)
		}
		var resp *http.Response
		if resp, err = l.local.Do(req); err == nil {
			body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxLocalBody+1))
			resp.Body.Close()
			res.StatusCode = resp.StatusCode
			if len(body) > maxLocalBody {
				body, res.Truncated = body[:maxLocalBody], true
			}
			res.Body = body
			if rerr != nil {
				res.Error = "read response: " + rerr.Error()
			}
		}
	}
	res.LatencyMicros = time.Since(start).Microseconds()
	if err != nil {
		res.Error = redactErr(err).Error()
	}
	l.line(f, res, start)
	return res
}

// line prints one delivery: time, event type, status, latency, webhook-id.
func (l *listen) line(f listener.Frame, res listener.Frame, at time.Time) {
	typ := f.Headers[delivery.HeaderXEventType]
	id := f.Headers[http.CanonicalHeaderKey(delivery.HeaderID)]
	lat := time.Duration(res.LatencyMicros) * time.Microsecond
	l.out.Lock()
	defer l.out.Unlock()
	if l.c.json() {
		b, _ := json.Marshal(map[string]any{"at": at.UTC(), "event_type": typ, "webhook_id": id,
			"attempt": f.Headers[delivery.HeaderXAttempt], "status_code": res.StatusCode,
			"latency_ms": float64(res.LatencyMicros) / 1000, "error": res.Error})
		fmt.Fprintln(l.c.stdout, string(b))
		return
	}
	status := code(res.StatusCode)
	if res.Error != "" && res.StatusCode == 0 {
		status = "error: " + oneLine(res.Error)
	}
	fmt.Fprintf(l.c.stdout, "%s  --> %-28s [%s]  <-- %s  %s\n", at.Local().Format("2006-01-02 15:04:05"),
		oneLine(typ), oneLine(id), status, lat.Round(100*time.Microsecond))
}
