package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// endpointAnswer is what the tables show of an endpoint.
type endpointAnswer struct {
	ID                  string     `json:"id"`
	Tenant              string     `json:"tenant"`
	URL                 string     `json:"url"`
	Description         string     `json:"description"`
	EventTypes          []string   `json:"event_types"`
	HeaderNames         []string   `json:"header_names"`
	TimeoutMS           int64      `json:"timeout_ms"`
	State               string     `json:"state"`
	Ordering            string     `json:"ordering"`
	DeadHead            string     `json:"dead_head"`
	DisabledReason      string     `json:"disabled_reason"`
	DisabledAt          *time.Time `json:"disabled_at"`
	DisabledCause       string     `json:"disabled_cause"`
	Paused              bool       `json:"paused"`
	PausedUntil         *time.Time `json:"paused_until"`
	AutoRecover         *bool      `json:"auto_recover"`
	NextProbeAt         *time.Time `json:"next_probe_at"`
	Probes              int        `json:"probes"`
	CreatedAt           time.Time  `json:"created_at"`
	UpdatedAt           time.Time  `json:"updated_at"`
	PreviousSecretUntil *time.Time `json:"previous_secret_until"`
	Secret              string     `json:"secret"`
	Replayed            *int       `json:"replayed"`
}

// haltedKeyAnswer is an ordering key halted at a dead head.
type haltedKeyAnswer struct {
	Key      string    `json:"key"`
	Head     string    `json:"head"`
	Sequence int64     `json:"sequence"`
	HaltedAt time.Time `json:"halted_at"`
	Blocked  int       `json:"blocked"`
}

// page is a list answer.
type page[T any] struct {
	Data       []T    `json:"data"`
	NextCursor string `json:"next_cursor"`
}

// listFlags are the paging flags of every list.
type listFlags struct {
	limit  int
	cursor string
}

func (l *listFlags) add(cmd *cobra.Command) {
	cmd.Flags().IntVar(&l.limit, "limit", 50, "items per page (1-500)")
	cmd.Flags().StringVar(&l.cursor, "cursor", "", "the next_cursor of the previous page")
}

func (l *listFlags) query() url.Values {
	q := url.Values{"limit": {strconv.Itoa(l.limit)}}
	if l.cursor != "" {
		q.Set("cursor", l.cursor)
	}
	return q
}

// endpointFlags are the fields create and update take.
type endpointFlags struct {
	url, description, secret string
	ordering, deadHead       string
	events, headers          []string
	timeout                  time.Duration
	clearHeaders             bool
	autoRecover              bool
}

// body returns the request body of the flags that were set.
func (f *endpointFlags) body(cmd *cobra.Command) (map[string]any, error) {
	b := map[string]any{}
	set := cmd.Flags().Changed
	if set("url") {
		b["url"] = f.url
	}
	if set("description") {
		b["description"] = f.description
	}
	if set("events") {
		b["event_types"] = f.events
	}
	if set("secret") {
		b["secret"] = f.secret
	}
	if set("ordering") {
		b["ordering"] = f.ordering
	}
	if set("dead-head") {
		b["dead_head"] = f.deadHead
	}
	if set("timeout") {
		if f.timeout <= 0 || f.timeout%time.Millisecond != 0 {
			return nil, usageError{fmt.Errorf("--timeout %v: want a positive whole number of milliseconds, such as 5s", f.timeout)}
		}
		b["timeout_ms"] = f.timeout.Milliseconds()
	}
	if set("auto-recover") {
		b["auto_recover"] = f.autoRecover
	}
	if set("header") || f.clearHeaders {
		h := map[string]string{}
		for _, kv := range f.headers {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return nil, usageError{fmt.Errorf("--header %q: want Name=value", kv)}
			}
			h[k] = v
		}
		b["headers"] = h
	}
	return b, nil
}

func (f *endpointFlags) add(cmd *cobra.Command, update bool) {
	fl := cmd.Flags()
	fl.StringVar(&f.url, "url", "", "the receiver's URL (https, unless the server allows the network)")
	fl.StringSliceVar(&f.events, "events", nil, "event type patterns, comma-separated or repeated (invoice.*, *)")
	fl.StringVar(&f.description, "description", "", "a note for people")
	fl.StringArrayVar(&f.headers, "header", nil, "a custom header Name=value sent with every request (repeat for more)")
	fl.DurationVar(&f.timeout, "timeout", 0, "request timeout (default: the server's)")
	fl.StringVar(&f.ordering, "ordering", "", "key: deliver in order per ordering key; none: no order (docs/ordering.md)")
	fl.StringVar(&f.deadHead, "dead-head", "", "of an ordered endpoint, when a key's earliest delivery is given up: skip it, or halt the key")
	fl.BoolVar(&f.autoRecover, "auto-recover", true, "let probes re-enable the endpoint once failures disabled it (--auto-recover=false: only a person)")
	if update {
		fl.BoolVar(&f.clearHeaders, "clear-headers", false, "remove every custom header (with --header: replace them)")
	} else {
		fl.StringVar(&f.secret, "secret", "", "a whsec_ signing secret of yours (default: generated)")
	}
}

func (c *cli) endpointsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "endpoints",
		Aliases: []string{"endpoint", "ep"},
		Short:   "Manage the endpoints webhooks are sent to",
		Args:    cobra.NoArgs,
		RunE:    helpIfNoArgs,
	}
	var lf listFlags
	list := &cobra.Command{
		Use:   "list",
		Short: "List endpoints, by id",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return showPage(c, cmd, "/v1/endpoints", lf.query(), []string{"ID", "STATE", "URL", "EVENTS", "CREATED"},
				func(e endpointAnswer) []string {
					st := e.State
					if e.Paused {
						st += ",paused"
					}
					return []string{e.ID, st, e.URL, strings.Join(e.EventTypes, ","), when(&e.CreatedAt)}
				})
		},
	}
	lf.add(list)

	var cf endpointFlags
	create := &cobra.Command{
		Use:   "create --url URL --events PATTERN[,PATTERN…]",
		Short: "Create an endpoint; its signing secret is shown once",
		Example: `  hookstream endpoints create --url https://example.com/hook --events 'invoice.*,order.created'
  hookstream endpoints create --url https://example.com/hook --events '*' --header X-Team=billing --timeout 5s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			body, err := cf.body(cmd)
			if err != nil {
				return err
			}
			return c.endpointCall(cmd, http.MethodPost, "/v1/endpoints", body)
		},
	}
	cf.add(create, false)
	_ = create.MarkFlagRequired("url")
	_ = create.MarkFlagRequired("events")

	get := &cobra.Command{
		Use:   "get ENDPOINT_ID",
		Short: "Show an endpoint",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.endpointCall(cmd, http.MethodGet, "/v1/endpoints/"+seg(args[0]), nil)
		},
	}

	var uf endpointFlags
	update := &cobra.Command{
		Use:   "update ENDPOINT_ID [--url URL] [--events …] [--description …] [--header Name=value…] [--timeout 5s]",
		Short: "Change an endpoint's fields; those not given stay",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			body, err := uf.body(cmd)
			if err != nil {
				return err
			}
			if len(body) == 0 {
				return usageError{fmt.Errorf("nothing to update: give at least one of --url, --events, --description, --header, --clear-headers, --timeout, --ordering, --dead-head, --auto-recover")}
			}
			return c.endpointCall(cmd, http.MethodPatch, "/v1/endpoints/"+seg(args[0]), body)
		},
	}
	uf.add(update, true)

	state := func(verb, short string) *cobra.Command {
		return &cobra.Command{
			Use:   verb + " ENDPOINT_ID",
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return c.endpointCall(cmd, http.MethodPost, "/v1/endpoints/"+seg(args[0])+"/"+verb, nil)
			},
		}
	}

	var (
		until    string
		pauseFor time.Duration
	)
	pause := &cobra.Command{
		Use:   "pause ENDPOINT_ID [--until TIME | --for DURATION]",
		Short: "Pause an endpoint: its deliveries park, without spending attempts, until it is resumed",
		Long: `Pause an endpoint, for the receiver's maintenance: its deliveries park without
a request, an attempt spent or a failure counted. With --until (RFC 3339) or
--for (a duration from now) the pause ends by itself, at most 30 days ahead;
without either it lasts until "endpoints resume". Either way, what parked is
then replayed, oldest first. Pausing a paused endpoint moves its end.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			body := map[string]any{}
			switch set := cmd.Flags().Changed; {
			case set("until") && set("for"):
				return usageError{fmt.Errorf("give --until or --for, not both")}
			case set("until"):
				t, err := time.Parse(time.RFC3339Nano, until)
				if err != nil {
					return usageError{fmt.Errorf("--until %q: want an RFC 3339 time, such as 2026-12-02T06:00:00Z", until)}
				}
				body["until"] = t.UTC().Format(time.RFC3339Nano)
			case set("for"):
				if pauseFor <= 0 {
					return usageError{fmt.Errorf("--for %v: want a positive duration, such as 2h", pauseFor)}
				}
				body["until"] = time.Now().Add(pauseFor).UTC().Format(time.RFC3339Nano)
			}
			return c.endpointCall(cmd, http.MethodPost, "/v1/endpoints/"+seg(args[0])+"/pause", body)
		},
	}
	pause.Flags().StringVar(&until, "until", "", "when the pause ends, RFC 3339 (default: when resumed)")
	pause.Flags().DurationVar(&pauseFor, "for", 0, "how long the pause lasts, from now (such as 2h)")

	var overlap time.Duration
	var newSecret string
	rotate := &cobra.Command{
		Use:   "rotate-secret ENDPOINT_ID [--overlap 24h]",
		Short: "Replace the signing secret; the new one is shown once",
		Long: `Replace an endpoint's signing secret. During the overlap (default 24h) every
request carries two signatures, new and previous, so the receiver can switch
at its pace. --overlap 0 drops the previous secret at once.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			body := map[string]any{}
			if cmd.Flags().Changed("overlap") {
				if overlap < 0 || overlap%time.Second != 0 {
					return usageError{fmt.Errorf("--overlap %v: want a whole number of seconds, 0 or more", overlap)}
				}
				body["overlap_seconds"] = int64(overlap / time.Second)
			}
			if newSecret != "" {
				body["secret"] = newSecret
			}
			return c.endpointCall(cmd, http.MethodPost, "/v1/endpoints/"+seg(args[0])+"/rotate-secret", body)
		},
	}
	rotate.Flags().DurationVar(&overlap, "overlap", 24*time.Hour, "how long the previous secret still signs")
	rotate.Flags().StringVar(&newSecret, "secret", "", "a whsec_ secret of yours (default: generated)")

	del := c.deleteCommand("delete ENDPOINT_ID", "Delete an endpoint (its history stays)", "/v1/endpoints/")
	halted := &cobra.Command{
		Use:   "halted ENDPOINT_ID",
		Short: "List an ordered endpoint's keys halted at a dead delivery",
		Long: `List the ordering keys of an endpoint with dead_head halt that stop at a dead
delivery, longest halted first. Retry the head (hookstream retry) or skip it
(hookstream deliveries skip) to let the key go on.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return showPage(c, cmd, "/v1/endpoints/"+seg(args[0])+"/ordering/halted", url.Values{},
				[]string{"KEY", "HEAD", "SEQUENCE", "HALTED", "BLOCKED"},
				func(k haltedKeyAnswer) []string {
					return []string{k.Key, k.Head, strconv.FormatInt(k.Sequence, 10), when(&k.HaltedAt), strconv.Itoa(k.Blocked)}
				})
		},
	}
	cmd.AddCommand(list, create, get, update, halted,
		state("enable", "Enable an endpoint and replay its parked deliveries"),
		state("disable", "Disable an endpoint: its deliveries are parked until it is enabled"),
		pause, state("resume", "End an endpoint's pause and replay its parked deliveries"),
		rotate, del)
	return cmd
}

// endpointCall makes a call that answers an endpoint, and shows it.
func (c *cli) endpointCall(cmd *cobra.Command, method, path string, body any) error {
	return show(c, cmd, method, path, nil, body, c.showEndpoint)
}

// orderingText shows an endpoint's ordering: empty when none.
func orderingText(e endpointAnswer) string {
	if e.Ordering != "key" {
		return ""
	}
	return "per key, dead head: " + e.DeadHead
}

// showEndpoint prints an endpoint for people.
func (c *cli) showEndpoint(e endpointAnswer) error {
	replayed := ""
	if e.Replayed != nil {
		replayed = strconv.Itoa(*e.Replayed)
	}
	timeout := ""
	if e.TimeoutMS > 0 {
		timeout = (time.Duration(e.TimeoutMS) * time.Millisecond).String()
	}
	paused, recovery := "", ""
	if e.Paused {
		paused = "until resumed"
		if e.PausedUntil != nil {
			paused = "until " + when(e.PausedUntil)
		}
	}
	switch {
	case e.NextProbeAt != nil:
		recovery = "probe " + strconv.Itoa(e.Probes+1) + " at " + when(e.NextProbeAt)
	case e.AutoRecover != nil && !*e.AutoRecover:
		recovery = "off (only a person enables it)"
	}
	if err := c.fields("id", e.ID, "tenant", e.Tenant, "url", e.URL, "state", e.State,
		"disabled", strings.TrimSpace(e.DisabledReason+" "+when(e.DisabledAt)), "paused", paused,
		"recovery", recovery,
		"events", strings.Join(e.EventTypes, ", "), "description", e.Description,
		"headers", strings.Join(e.HeaderNames, ", "), "timeout", timeout, "ordering", orderingText(e),
		"created", when(&e.CreatedAt), "updated", when(&e.UpdatedAt),
		"previous secret until", when(e.PreviousSecretUntil), "replayed", replayed,
		"secret", e.Secret); err != nil {
		return err
	}
	if e.Secret != "" {
		fmt.Fprintln(c.stderr, "The secret is shown only now: store it where the receiver reads it.")
	}
	return nil
}

// helpIfNoArgs shows a group command's help when it is run alone.
func helpIfNoArgs(cmd *cobra.Command, _ []string) error { return cmd.Help() }

// deleteCommand is a command that deletes the resource its one argument
// names under prefix and says so.
func (c *cli) deleteCommand(use, short, prefix string) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.api()
			if err != nil {
				return err
			}
			if _, err := api.do(cmd.Context(), http.MethodDelete, prefix+seg(args[0]), nil, nil); err != nil {
				return err
			}
			if !c.json() {
				fmt.Fprintf(c.stdout, "deleted %s\n", args[0])
			}
			return nil
		},
	}
}
