package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hookstream/hookstream/schema"
)

// feedAttempt is an item of GET /v1/attempts.
type feedAttempt struct {
	DeliveryID string    `json:"delivery_id"`
	Attempt    int       `json:"attempt"`
	EndpointID string    `json:"endpoint_id"`
	EventID    string    `json:"event_id"`
	EventType  string    `json:"event_type"`
	Outcome    string    `json:"outcome"`
	StatusCode int       `json:"status_code"`
	Error      string    `json:"error"`
	LatencyMS  float64   `json:"latency_ms"`
	At         time.Time `json:"at"`
}

// tailWindow is how far back each poll of a tail looks again: the sink
// writes attempts in batches, so an attempt can appear in Postgres a few
// seconds after its time, behind attempts already shown.
const tailWindow = 30 * time.Second

func (c *cli) tailCmd() *cobra.Command {
	var (
		endpoint, status, since string
		types                   []string
		every                   time.Duration
	)
	cmd := &cobra.Command{
		Use:   "tail [--endpoint ID] [--status S] [--event-type PATTERN] [--since 5m]",
		Short: "Follow delivery attempts live, one line each, until Ctrl-C",
		Long: `Follow the tenant's delivery attempts as they are recorded: one line per
attempt with its time, outcome (succeeded, retrying, dead, parked), status
code, latency, endpoint, event type and delivery. --output json prints one
JSON object per line instead. Filters: --endpoint, --status (an attempt's
outcome), --event-type (patterns such as invoice.*). --since shows recent
attempts first (default: only new ones). Ctrl-C ends it (exit 0).`,
		Example: `  hookstream deliveries tail
  hookstream deliveries tail --endpoint ep_123 --status retrying,dead
  hookstream deliveries tail --event-type 'invoice.*' -o json | jq .`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			from := time.Now()
			if since != "" {
				t, err := parseWhen("since", since, from)
				if err != nil {
					return err
				}
				from = t
			}
			for _, p := range types {
				if err := schema.ValidatePattern(p); err != nil {
					return usageError{fmt.Errorf("--event-type: %w", err)}
				}
			}
			statuses := map[string]bool{}
			if status != "" {
				for _, s := range splitList(status) {
					switch s {
					case "succeeded", "retrying", "dead", "parked":
						statuses[s] = true
					default:
						return usageError{fmt.Errorf("--status %q: want succeeded, retrying, dead or parked", s)}
					}
				}
			}
			t := &tail{c: c, endpoint: endpoint, statuses: statuses, types: types, from: from, seen: map[string]time.Time{}}
			err := t.run(cmd.Context(), every)
			if cmd.Context().Err() != nil {
				return nil // Ctrl-C is how a tail ends
			}
			return err
		},
	}
	cmd.Flags().StringVar(&endpoint, "endpoint", "", "only this endpoint's attempts")
	cmd.Flags().StringVar(&status, "status", "", "only these outcomes, comma-separated: succeeded, retrying, dead, parked")
	cmd.Flags().StringSliceVar(&types, "event-type", nil, "only these event type patterns (invoice.*), comma-separated or repeated")
	cmd.Flags().StringVar(&since, "since", "", "show attempts from this time on (RFC 3339, or a duration ago: 5m)")
	cmd.Flags().DurationVar(&every, "poll", time.Second, "how often to ask the API for new attempts")
	return cmd
}

// tail polls GET /v1/attempts and prints each attempt once.
type tail struct {
	c        *cli
	endpoint string
	statuses map[string]bool
	types    []string
	from     time.Time            // attempts at or after it are shown
	newest   time.Time            // the latest attempt time seen
	seen     map[string]time.Time // attempts shown, by delivery id and number, with their time
	header   bool
}

func (t *tail) run(ctx context.Context, every time.Duration) error {
	api, err := t.c.api()
	if err != nil {
		return err
	}
	if !t.c.json() {
		fmt.Fprintln(t.c.stderr, "Following delivery attempts; Ctrl-C to stop.")
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if err := t.poll(ctx, api); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// poll reads every attempt since the window's start, page by page, and
// prints those not shown yet.
func (t *tail) poll(ctx context.Context, api *apiClient) error {
	since := t.from
	if w := t.newest.Add(-tailWindow); w.After(since) {
		since = w
	}
	q := url.Values{"since": {since.UTC().Format(time.RFC3339Nano)}, "limit": {"500"}}
	if t.endpoint != "" {
		q.Set("endpoint_id", t.endpoint)
	}
	for {
		var p page[json.RawMessage]
		if _, err := api.get(ctx, "/v1/attempts", q, &p); err != nil {
			return err
		}
		for _, raw := range p.Data {
			var a feedAttempt
			if err := json.Unmarshal(raw, &a); err != nil {
				return fmt.Errorf("GET /v1/attempts: decode answer: %w", err)
			}
			t.show(a, raw)
		}
		if p.NextCursor == "" {
			break
		}
		q.Set("cursor", p.NextCursor)
	}
	for k, at := range t.seen {
		if at.Before(since) {
			delete(t.seen, k)
		}
	}
	return nil
}

func (t *tail) show(a feedAttempt, raw json.RawMessage) {
	key := a.DeliveryID + "#" + strconv.Itoa(a.Attempt)
	if _, ok := t.seen[key]; ok {
		return
	}
	t.seen[key] = a.At
	if a.At.After(t.newest) {
		t.newest = a.At
	}
	if len(t.statuses) > 0 && !t.statuses[a.Outcome] || len(t.types) > 0 && !schema.MatchAny(t.types, a.EventType) {
		return
	}
	if t.c.json() {
		fmt.Fprintln(t.c.stdout, string(raw))
		return
	}
	if !t.header {
		fmt.Fprintf(t.c.stdout, "%-12s  %-9s  %4s  %9s  %-30s  %-24s  %s\n", "TIME", "OUTCOME", "CODE", "LATENCY", "ENDPOINT", "EVENT TYPE", "DELIVERY")
		t.header = true
	}
	detail := ""
	if a.Error != "" {
		detail = "  " + oneLine(a.Error)
	}
	fmt.Fprintf(t.c.stdout, "%-12s  %-9s  %4s  %9s  %-30s  %-24s  %s #%d%s\n", a.At.Local().Format("15:04:05.000"),
		a.Outcome, code(a.StatusCode), latency(a.LatencyMS), a.EndpointID, oneLine(a.EventType), a.DeliveryID, a.Attempt, detail)
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
