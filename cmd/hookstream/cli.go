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
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sethvargo/go-envconfig"
	"github.com/spf13/cobra"
)

// Exit codes of the client commands (docs/cli.md lists them). The server
// commands keep theirs: 0, 1 when a role failed, 2 for bad configuration.
const (
	exitOK          = 0
	exitFailure     = 1   // anything else: a 5xx, a failed job, an answer that makes no sense
	exitUsage       = 2   // bad command line or client configuration
	exitAuth        = 3   // 401 or 403: no valid token, or not allowed
	exitNotFound    = 4   // 404: no such id (or another tenant's)
	exitRefused     = 5   // 400, 409, 413, 422: the request as made cannot succeed
	exitRetryLater  = 6   // 429 or 503: try the same again later
	exitUnreachable = 7   // no answer from the API
	exitInterrupted = 130 // Ctrl-C (SIGINT) or SIGTERM before the command finished
)

// usageError is a mistake on the command line.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// exitCode maps the error a client command returned to its exit code.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	if errors.Is(err, context.Canceled) {
		return exitInterrupted
	}
	if _, ok := errors.AsType[usageError](err); ok {
		return exitUsage
	}
	if _, ok := errors.AsType[unreachableError](err); ok {
		return exitUnreachable
	}
	if e, ok := errors.AsType[*apiError](err); ok {
		switch e.Status {
		case http.StatusUnauthorized, http.StatusForbidden:
			return exitAuth
		case http.StatusNotFound:
			return exitNotFound
		case http.StatusBadRequest, http.StatusConflict, http.StatusRequestEntityTooLarge,
			http.StatusUnprocessableEntity, http.StatusMethodNotAllowed:
			return exitRefused
		case http.StatusTooManyRequests, http.StatusServiceUnavailable:
			return exitRetryLater
		}
	}
	return exitFailure
}

// cli holds what every client command shares: the configuration from the
// environment and global flags, and where output goes.
type cli struct {
	cfg    clientConfig
	output string // "table" or "json"
	stdout io.Writer
	stderr io.Writer
	client *apiClient
}

// api returns the API client of the configuration and flags.
func (c *cli) api() (*apiClient, error) {
	if c.client == nil {
		cl, err := newAPIClient(c.cfg)
		if err != nil {
			return nil, err
		}
		c.client = cl
	}
	return c.client, nil
}

// json reports whether the output is for scripts.
func (c *cli) json() bool { return c.output == "json" }

// printJSON writes an API answer, indented, to stdout.
func (c *cli) printJSON(raw json.RawMessage) error {
	if raw == nil {
		return nil
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return fmt.Errorf("answer is not JSON: %w", err)
	}
	buf.WriteByte('\n')
	_, err := c.stdout.Write(buf.Bytes())
	return err
}

// table writes rows under a header, aligned.
func (c *cli) table(header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		for i := range r {
			r[i] = oneLine(r[i])
		}
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// fields writes name: value lines, aligned, skipping empty values.
func (c *cli) fields(kv ...string) error {
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", kv[i], oneLine(kv[i+1]))
		}
	}
	return tw.Flush()
}

// oneLine keeps a value from breaking a table: control characters (which
// an answer could carry to the terminal) become spaces.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, s)
}

// nextPage tells a person how to get the next page of a list.
func (c *cli) nextPage(cursor string) {
	if cursor != "" && !c.json() {
		fmt.Fprintf(c.stderr, "more: add --cursor %s\n", cursor)
	}
}

// when formats a time for a table: local, to the second; "" for zero.
func when(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// parseWhen reads a time flag: RFC 3339, or a duration meaning that long
// ago ("90m", "24h", "7d").
func parseWhen(name, s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if d, err := time.ParseDuration(days + "h"); err == nil && d >= 0 {
			return now.Add(-24 * d), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, usageError{fmt.Errorf("--%s %q: want an RFC 3339 time (2026-12-01T09:00:00Z) or a duration ago (30m, 24h, 7d)", name, s)}
}

// newCLI returns the root command of the client commands; server commands
// are listed for --help but run through serverMain.
func newCLI(ctx context.Context, env envconfig.Lookuper, stdout, stderr io.Writer) (*cobra.Command, *cli) {
	c := &cli{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "hookstream",
		Short: "Webhook delivery for services that publish events to Kafka",
		Long: `hookstream delivers webhooks for services that publish their events to Kafka.

The server commands (run, migrate, dev) run hookstream itself. The other
commands talk to a running hookstream API, at HOOKSTREAM_API_URL (or
--api-url) with HOOKSTREAM_TOKEN (or --token): a tenant's API key (hsk_…) or
the admin token.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if !slices.Contains([]string{"table", "json"}, c.output) {
				return usageError{fmt.Errorf("--output %q: want table or json", c.output)}
			}
			return nil
		},
	}
	root.SetContext(ctx)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.CompletionOptions.DisableDefaultCmd = true

	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &c.cfg,
		Lookuper: envconfig.PrefixLookuper("HOOKSTREAM_", env)}); err != nil {
		c.cfg.APIURL = "http://127.0.0.1:8080"
	}
	pf := root.PersistentFlags()
	pf.StringVar(&c.cfg.APIURL, "api-url", c.cfg.APIURL, "URL of the hookstream API (HOOKSTREAM_API_URL)")
	pf.StringVar(&c.cfg.Token, "token", c.cfg.Token, "API key (hsk_…) or admin token (HOOKSTREAM_TOKEN)")
	pf.StringVar(&c.cfg.Tenant, "tenant", c.cfg.Tenant, "tenant an admin token acts on (HOOKSTREAM_TENANT; default: default)")
	pf.StringVarP(&c.output, "output", "o", "table", "output format: table (for people) or json (for scripts)")

	root.AddGroup(&cobra.Group{ID: "server", Title: "Server commands:"},
		&cobra.Group{ID: "client", Title: "Client commands (talk to a hookstream API):"})
	for _, sc := range serverCommands() {
		sc.GroupID = "server"
		root.AddCommand(sc)
	}
	for _, cc := range []*cobra.Command{c.endpointsCmd(), c.eventsCmd(), c.deliveriesCmd(), c.retryCmd(),
		c.eventTypesCmd(), c.recoverCmd(), c.jobsCmd(), c.tenantsCmd(), c.keysCmd(), c.quarantineCmd(), c.listenCmd()} {
		cc.GroupID = "client"
		root.AddCommand(cc)
	}
	root.SetHelpCommandGroupID("client")
	return root, c
}

// cliMain runs a client command (or help) and returns its exit code.
func cliMain(ctx context.Context, args []string, env envconfig.Lookuper, stdout, stderr io.Writer) int {
	root, _ := newCLI(ctx, env, stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	code := exitCode(err)
	if msg := err.Error(); strings.HasPrefix(msg, "unknown command") || strings.Contains(msg, "arg(s)") || strings.Contains(msg, "required flag") {
		code = exitUsage
	}
	switch code {
	case exitInterrupted:
		fmt.Fprintln(stderr, "hookstream: interrupted")
	case exitUsage:
		fmt.Fprintln(stderr, "hookstream:", err)
		fmt.Fprintln(stderr, "Run 'hookstream --help' or add --help to a command for its usage.")
	default:
		fmt.Fprintln(stderr, "hookstream:", err)
	}
	return code
}

// serverCommands are run, migrate and dev, for --help: Main hands them to
// serverMain before the client commands are parsed.
func serverCommands() []*cobra.Command {
	var roles string
	runCmd := &cobra.Command{
		Use:   "run [--roles=api,dispatch,deliver,retry,sink]",
		Short: "Run roles (default: all); configuration from HOOKSTREAM_* variables",
		Long: `Run hookstream's roles in this process until SIGINT or SIGTERM. Roles:
api, dispatch, deliver, retry, sink (all by default, or HOOKSTREAM_ROLES).
Configuration comes from HOOKSTREAM_* variables: see docs/configuration.md.
'hookstream' with no command, or with flags only, runs this too.`,
		Args: cobra.NoArgs,
	}
	runCmd.Flags().StringVar(&roles, "roles", "", "comma-separated roles to run (overrides HOOKSTREAM_ROLES)")
	migrateCmd := &cobra.Command{Use: "migrate", Short: "Apply the Postgres migrations (HOOKSTREAM_DATABASE_URL)", Args: cobra.NoArgs}
	devCmd := &cobra.Command{
		Use:   "dev",
		Short: "Everything in one process on an embedded Kafka, migrations applied",
		Long: `Run every role in one process on an embedded Kafka (127.0.0.1:9092, or
HOOKSTREAM_DEV_KAFKA_PORT, unless HOOKSTREAM_KAFKA_BROKERS is set), with
migrations applied, local receivers allowed and a banner with the admin token.`,
		Args: cobra.NoArgs,
	}
	devCmd.Flags().StringVar(&roles, "roles", "", "comma-separated roles to run (overrides HOOKSTREAM_ROLES)")
	for _, sc := range []*cobra.Command{runCmd, migrateCmd, devCmd} {
		sc.RunE = func(*cobra.Command, []string) error {
			return usageError{errors.New("server commands are run before flags are parsed")}
		}
	}
	return []*cobra.Command{runCmd, migrateCmd, devCmd}
}

// show makes an API call and prints its answer: as it is with --output
// json, else through human.
func show[T any](c *cli, cmd *cobra.Command, method, path string, q url.Values, body any, human func(T) error, headers ...string) error {
	api, err := c.api()
	if err != nil {
		return err
	}
	var v T
	raw, err := api.call(cmd.Context(), method, path, q, body, &v, headers...)
	if err != nil {
		return err
	}
	if c.json() {
		return c.printJSON(raw)
	}
	return human(v)
}

// showPage lists a page and prints it as a table of the rows row makes.
func showPage[T any](c *cli, cmd *cobra.Command, path string, q url.Values, header []string, row func(T) []string) error {
	return show(c, cmd, http.MethodGet, path, q, nil, func(p page[T]) error {
		rows := make([][]string, 0, len(p.Data))
		for _, item := range p.Data {
			rows = append(rows, row(item))
		}
		c.nextPage(p.NextCursor)
		return c.table(header, rows)
	})
}
