package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

type eventAnswer struct {
	ID         string          `json:"id"`
	Tenant     string          `json:"tenant"`
	Type       string          `json:"type"`
	Data       json.RawMessage `json:"data"`
	CreatedAt  time.Time       `json:"created_at"`
	ReceivedAt *time.Time      `json:"received_at"`
}

// maxDataBytes bounds the data publish reads from a file or stdin; the
// server has its own, lower, limit.
const maxDataBytes = 64 << 20

func (c *cli) eventsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "events",
		Aliases: []string{"event"},
		Short:   "Publish events and read their history",
		Args:    cobra.NoArgs,
		RunE:    helpIfNoArgs,
	}
	var (
		lf                listFlags
		typ, since, until string
	)
	list := &cobra.Command{
		Use:   "list [--type T] [--since 24h] [--until T]",
		Short: "List events, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := lf.query()
			if typ != "" {
				q.Set("type", typ)
			}
			if err := timeRange(cmd, q, since, until); err != nil {
				return err
			}
			return showPage(c, cmd, "/v1/events", q, []string{"ID", "TYPE", "CREATED", "DATA"}, func(e eventAnswer) []string {
				return []string{e.ID, e.Type, when(&e.CreatedAt), fmt.Sprintf("%d B", len(e.Data))}
			})
		},
	}
	lf.add(list)
	list.Flags().StringVar(&typ, "type", "", "only events of this type (exact)")
	list.Flags().StringVar(&since, "since", "", "only events created at or after (RFC 3339, or a duration ago: 24h)")
	list.Flags().StringVar(&until, "until", "", "only events created before")

	get := &cobra.Command{
		Use:   "get EVENT_ID",
		Short: "Show an event with its data",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return show(c, cmd, http.MethodGet, "/v1/events/"+seg(args[0]), nil, nil, func(e eventAnswer) error {
				if err := c.fields("id", e.ID, "tenant", e.Tenant, "type", e.Type,
					"created", when(&e.CreatedAt), "received", when(e.ReceivedAt)); err != nil {
					return err
				}
				fmt.Fprintln(c.stdout, "data:")
				return c.printJSON(e.Data)
			})
		},
	}

	var data, id, createdAt string
	publish := &cobra.Command{
		Use:   "publish TYPE [--data JSON | --data @file | --data -]",
		Short: "Publish an event through the API",
		Long: `Publish an event of TYPE with --data as its data (JSON; @file reads a file,
- reads stdin; default {}). --id is its idempotency key: publishing the same
id again delivers it once.`,
		Example: `  hookstream events publish invoice.paid --data '{"invoice":"in_1","amount":4200}' --id in_1-paid
  jq -c . invoice.json | hookstream events publish invoice.paid --data -`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			raw, err := readData(data, cmd.InOrStdin())
			if err != nil {
				return err
			}
			body := map[string]any{"type": args[0], "data": raw}
			if createdAt != "" {
				t, err := time.Parse(time.RFC3339Nano, createdAt)
				if err != nil {
					return usageError{fmt.Errorf("--created-at %q: want an RFC 3339 time", createdAt)}
				}
				body["created_at"] = t.Format(time.RFC3339Nano)
			}
			var headers []string
			if id != "" {
				headers = []string{"Idempotency-Key", id}
			}
			return show(c, cmd, http.MethodPost, "/v1/events", nil, body, func(e eventAnswer) error {
				return c.fields("id", e.ID, "tenant", e.Tenant, "type", e.Type, "created", when(&e.CreatedAt))
			}, headers...)
		},
	}
	publish.Flags().StringVar(&data, "data", "{}", "the event's data: JSON, @file, or - for stdin")
	publish.Flags().StringVar(&id, "id", "", "idempotency key (default: generated)")
	publish.Flags().StringVar(&createdAt, "created-at", "", "the event's time, RFC 3339 (default: now)")
	cmd.AddCommand(list, get, publish)
	return cmd
}

// readData reads --data: JSON as given, @file, or - for stdin.
func readData(arg string, stdin io.Reader) (json.RawMessage, error) {
	var b []byte
	switch {
	case arg == "-":
		var err error
		if b, err = io.ReadAll(io.LimitReader(stdin, maxDataBytes+1)); err != nil {
			return nil, fmt.Errorf("read stdin: %w", err)
		}
	case strings.HasPrefix(arg, "@"):
		f, err := os.Open(arg[1:])
		if err != nil {
			return nil, usageError{fmt.Errorf("--data: %w", err)}
		}
		defer f.Close()
		if b, err = io.ReadAll(io.LimitReader(f, maxDataBytes+1)); err != nil {
			return nil, fmt.Errorf("read %s: %w", arg[1:], err)
		}
	default:
		b = []byte(arg)
	}
	if len(b) > maxDataBytes {
		return nil, usageError{fmt.Errorf("--data: more than %d bytes", maxDataBytes)}
	}
	if !json.Valid(b) {
		return nil, usageError{errors.New("--data: not valid JSON")}
	}
	return json.RawMessage(b), nil
}

// timeRange sets since and until in q from their flags.
func timeRange(cmd *cobra.Command, q map[string][]string, since, until string) error {
	now := time.Now()
	for _, f := range []struct{ name, value string }{{"since", since}, {"until", until}} {
		if !cmd.Flags().Changed(f.name) {
			continue
		}
		t, err := parseWhen(f.name, f.value, now)
		if err != nil {
			return err
		}
		q[f.name] = []string{t.UTC().Format(time.RFC3339Nano)}
	}
	return nil
}
