package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

type jobAnswer struct {
	ID         string     `json:"id"`
	Kind       string     `json:"kind"`
	EndpointID string     `json:"endpoint_id"`
	Since      time.Time  `json:"since"`
	Until      time.Time  `json:"until"`
	Status     string     `json:"status"`
	Total      int        `json:"total"`
	Done       int        `json:"done"`
	Failed     int        `json:"failed"`
	Skipped    int        `json:"skipped"`
	Error      string     `json:"error"`
	CreatedAt  time.Time  `json:"created_at"`
	FinishedAt *time.Time `json:"finished_at"`
}

// jobFailed is a job that ended failed: exit 1.
type jobFailed struct{ job jobAnswer }

func (e jobFailed) Error() string { return "job " + e.job.ID + " failed: " + e.job.Error }

func (c *cli) recoverCmd() *cobra.Command {
	var (
		since, until string
		detach       bool
		every        time.Duration
	)
	cmd := &cobra.Command{
		Use:   "recover ENDPOINT_ID --since 24h [--until T] [--detach]",
		Short: "Send again every dead delivery of an endpoint in a time range",
		Long: `Start a job that sends again every dead delivery of the endpoint created in
[--since, --until) (until: now), oldest first, each with its webhook-id, and
follow it with a progress bar until it ends (--detach: print the job and
return; 'hookstream jobs get ID' follows it later). Deliveries still retrying
are left to their schedule and counted as skipped.

Exit 0 when the job is done, 1 when it failed.`,
		Example: `  hookstream recover ep_123 --since 24h
  hookstream recover ep_123 --since 2026-12-01T00:00:00Z --until 2026-12-01T12:00:00Z`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			body := map[string]any{}
			now := time.Now()
			for _, f := range []struct{ name, value string }{{"since", since}, {"until", until}} {
				if f.value == "" {
					continue
				}
				t, err := parseWhen(f.name, f.value, now)
				if err != nil {
					return err
				}
				body[f.name] = t.UTC().Format(time.RFC3339Nano)
			}
			api, err := c.api()
			if err != nil {
				return err
			}
			var j jobAnswer
			raw, err := api.call(cmd.Context(), http.MethodPost, "/v1/endpoints/"+seg(args[0])+"/recover", nil, body, &j)
			if err != nil {
				return err
			}
			if detach {
				if c.json() {
					return c.printJSON(raw)
				}
				return c.showJob(j)
			}
			return c.followJob(cmd.Context(), j, every)
		},
	}
	cmd.Flags().StringVar(&since, "since", "", "start of the range, inclusive (RFC 3339, or a duration ago: 24h, 7d)")
	cmd.Flags().StringVar(&until, "until", "", "end of the range, exclusive (default: now)")
	cmd.Flags().BoolVar(&detach, "detach", false, "print the job and return without following it")
	cmd.Flags().DurationVar(&every, "poll", time.Second, "how often to ask for the job's progress")
	_ = cmd.MarkFlagRequired("since")
	return cmd
}

func (c *cli) jobsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "jobs",
		Aliases: []string{"job"},
		Short:   "Show recovery jobs",
		Args:    cobra.NoArgs,
		RunE:    helpIfNoArgs,
	}
	var follow bool
	get := &cobra.Command{
		Use:   "get JOB_ID [--follow]",
		Short: "Show a job's progress (--follow: until it ends)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.api()
			if err != nil {
				return err
			}
			var j jobAnswer
			raw, err := api.get(cmd.Context(), "/v1/jobs/"+seg(args[0]), nil, &j)
			if err != nil {
				return err
			}
			if follow {
				return c.followJob(cmd.Context(), j, time.Second)
			}
			if c.json() {
				return c.printJSON(raw)
			}
			return c.showJob(j)
		},
	}
	get.Flags().BoolVar(&follow, "follow", false, "follow the job with a progress bar until it ends")
	cmd.AddCommand(get)
	return cmd
}

func (c *cli) showJob(j jobAnswer) error {
	return c.fields("id", j.ID, "kind", j.Kind, "endpoint", j.EndpointID, "since", when(&j.Since), "until", when(&j.Until),
		"status", j.Status, "progress", fmt.Sprintf("%d/%d sent again, %d failed, %d skipped", j.Done, j.Total, j.Failed, j.Skipped),
		"error", j.Error, "created", when(&j.CreatedAt), "finished", when(j.FinishedAt))
}

// followJob polls a job until it ends, showing its progress on stderr: a
// bar on a terminal, a line per change otherwise. It then prints the job
// (JSON, or the summary) on stdout.
func (c *cli) followJob(ctx context.Context, j jobAnswer, every time.Duration) error {
	api, err := c.api()
	if err != nil {
		return err
	}
	show := c.progress(j)
	var raw []byte
	tick := time.NewTicker(every)
	defer tick.Stop()
	for j.Status == "running" {
		show(j)
		select {
		case <-ctx.Done():
			fmt.Fprintf(c.stderr, "\nstopped following %s: it goes on (hookstream jobs get %s --follow)\n", j.ID, j.ID)
			return ctx.Err()
		case <-tick.C:
		}
		if raw, err = api.get(ctx, "/v1/jobs/"+seg(j.ID), nil, &j); err != nil {
			return err
		}
	}
	show(j)
	if c.json() {
		if raw == nil {
			if raw, err = api.get(ctx, "/v1/jobs/"+seg(j.ID), nil, &j); err != nil {
				return err
			}
		}
		if err := c.printJSON(raw); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(c.stdout, "%s %s: %d/%d sent again, %d failed (event gone), %d skipped (still retrying)\n",
			j.ID, j.Status, j.Done, j.Total, j.Failed, j.Skipped)
	}
	if j.Status == "failed" {
		return jobFailed{j}
	}
	return nil
}

// progress returns how a job's progress is shown on stderr.
func (c *cli) progress(j jobAnswer) func(jobAnswer) {
	if f, ok := c.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		bar := progressbar.NewOptions(max(j.Total, 1), progressbar.OptionSetWriter(c.stderr),
			progressbar.OptionSetDescription("recover "+j.ID), progressbar.OptionShowCount(),
			progressbar.OptionSetElapsedTime(true), progressbar.OptionSetPredictTime(true),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(c.stderr) }))
		return func(j jobAnswer) {
			_ = bar.Set(min(j.Done+j.Failed+j.Skipped, bar.GetMax()))
			if j.Status != "running" {
				_ = bar.Finish()
			}
		}
	}
	last := ""
	return func(j jobAnswer) {
		line := fmt.Sprintf("%s %s: %d/%d", j.ID, j.Status, j.Done+j.Failed+j.Skipped, j.Total)
		if line != last {
			fmt.Fprintln(c.stderr, line)
			last = line
		}
	}
}
