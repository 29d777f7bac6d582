package main

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/spf13/cobra"
)

type deliveryAnswer struct {
	ID             string          `json:"id"`
	EndpointID     string          `json:"endpoint_id"`
	EventID        string          `json:"event_id"`
	EventType      string          `json:"event_type"`
	Status         string          `json:"status"`
	Attempts       int             `json:"attempts"`
	LastStatusCode int             `json:"last_status_code"`
	LastError      string          `json:"last_error"`
	NextAttemptAt  *time.Time      `json:"next_attempt_at"`
	CreatedAt      time.Time       `json:"created_at"`
	UpdatedAt      time.Time       `json:"updated_at"`
	History        []attemptAnswer `json:"attempt_history"`
}

type attemptAnswer struct {
	Attempt           int       `json:"attempt"`
	Outcome           string    `json:"outcome"`
	StatusCode        int       `json:"status_code"`
	Error             string    `json:"error"`
	LatencyMS         float64   `json:"latency_ms"`
	ResponseBody      string    `json:"response_body"`
	ResponseEncoding  string    `json:"response_body_encoding"`
	ResponseTruncated bool      `json:"response_truncated"`
	At                time.Time `json:"at"`
}

// code shows a status code, "-" when there was no response.
func code(c int) string {
	if c == 0 {
		return "-"
	}
	return strconv.Itoa(c)
}

// latency shows milliseconds for people.
func latency(ms float64) string {
	return (time.Duration(ms * float64(time.Millisecond))).Round(100 * time.Microsecond).String()
}

func (c *cli) deliveriesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "deliveries",
		Aliases: []string{"delivery"},
		Short:   "Read deliveries and their attempts; follow them live",
		Args:    cobra.NoArgs,
		RunE:    helpIfNoArgs,
	}
	var (
		lf                                    listFlags
		endpoint, event, status, since, until string
	)
	list := &cobra.Command{
		Use:   "list [--endpoint ID] [--event ID] [--status S] [--since 24h] [--until T]",
		Short: "List deliveries, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := lf.query()
			for k, v := range map[string]string{"endpoint_id": endpoint, "event_id": event, "status": status} {
				if v != "" {
					q.Set(k, v)
				}
			}
			if err := timeRange(cmd, q, since, until); err != nil {
				return err
			}
			return showPage(c, cmd, "/v1/deliveries", q, []string{"ID", "STATUS", "ENDPOINT", "EVENT TYPE", "ATTEMPTS", "CODE", "UPDATED"},
				func(d deliveryAnswer) []string {
					return []string{d.ID, d.Status, d.EndpointID, d.EventType, strconv.Itoa(d.Attempts),
						code(d.LastStatusCode), when(&d.UpdatedAt)}
				})
		},
	}
	lf.add(list)
	list.Flags().StringVar(&endpoint, "endpoint", "", "only the deliveries of this endpoint id")
	list.Flags().StringVar(&event, "event", "", "only the deliveries of this event id")
	list.Flags().StringVar(&status, "status", "", "only deliveries in this status: succeeded, retrying, dead, parked or blocked")
	list.Flags().StringVar(&since, "since", "", "only deliveries created at or after (RFC 3339, or a duration ago: 24h)")
	list.Flags().StringVar(&until, "until", "", "only deliveries created before")

	get := &cobra.Command{
		Use:   "get DELIVERY_ID",
		Short: "Show a delivery with its attempts",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return show(c, cmd, http.MethodGet, "/v1/deliveries/"+seg(args[0]), nil, nil, c.showDelivery)
		},
	}
	skip := &cobra.Command{
		Use:   "skip DELIVERY_ID",
		Short: "Skip the head of an ordering key: the next delivery of its key goes on",
		Long: `Skip a delivery of an ordered endpoint that holds its key back: a halted dead
head (dead_head halt), or a head that is dead or parked. It is not sent; the
next delivery of its key is queued. Repeating a skip is safe. A delivery that
is blocked, or being retried, is refused (exit 5).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return show(c, cmd, http.MethodPost, "/v1/deliveries/"+seg(args[0])+"/skip", nil, nil, func(d deliveryAnswer) error {
				_, err := fmt.Fprintf(c.stdout, "skipped %s: the next delivery of its key goes on\n", d.ID)
				return err
			})
		},
	}
	cmd.AddCommand(list, get, skip, c.tailCmd())
	return cmd
}

// showDelivery prints a delivery and its attempts for people.
func (c *cli) showDelivery(d deliveryAnswer) error {
	if err := c.fields("id", d.ID, "status", d.Status, "endpoint", d.EndpointID, "event", d.EventID,
		"event type", d.EventType, "attempts", strconv.Itoa(d.Attempts), "last code", code(d.LastStatusCode),
		"last error", d.LastError, "next attempt", when(d.NextAttemptAt),
		"created", when(&d.CreatedAt), "updated", when(&d.UpdatedAt)); err != nil {
		return err
	}
	if len(d.History) == 0 {
		return nil
	}
	fmt.Fprintln(c.stdout)
	rows := make([][]string, 0, len(d.History))
	for _, a := range d.History {
		resp := a.ResponseBody
		if a.ResponseEncoding == "base64" {
			resp = "(base64) " + resp
		}
		if a.ResponseTruncated {
			resp += " …"
		}
		resp = shorten(resp, 60)
		rows = append(rows, []string{strconv.Itoa(a.Attempt), when(&a.At), a.Outcome, code(a.StatusCode),
			latency(a.LatencyMS), a.Error, resp})
	}
	return c.table([]string{"#", "AT", "OUTCOME", "CODE", "LATENCY", "ERROR", "RESPONSE"}, rows)
}

func (c *cli) retryCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "retry DELIVERY_ID",
		Short: "Send a delivery again now, with the same webhook-id",
		Long: `Send a succeeded, dead or parked delivery again now: its next attempt, with
the same webhook-id. A delivery still retrying is refused (exit 5): its next
attempt is already queued.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return show(c, cmd, http.MethodPost, "/v1/deliveries/"+seg(args[0])+"/retry", nil, nil, func(d deliveryAnswer) error {
				_, err := fmt.Fprintf(c.stdout, "queued %s again (endpoint %s), with the same webhook-id\n", d.ID, d.EndpointID)
				return err
			})
		},
	}
}
