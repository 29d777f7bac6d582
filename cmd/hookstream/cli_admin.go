package main

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
)

type tenantAnswer struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

type keyAnswer struct {
	ID         string     `json:"id"`
	Tenant     string     `json:"tenant"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
	Key        string     `json:"key"`
}

type quarantinedAnswer struct {
	ID              string       `json:"id"`
	Stage           string       `json:"stage"`
	Reason          string       `json:"reason"`
	Topic           string       `json:"topic"`
	SourcePartition int32        `json:"source_partition"`
	SourceOffset    int64        `json:"source_offset"`
	QuarantinedAt   time.Time    `json:"quarantined_at"`
	RedrivenAt      *time.Time   `json:"redriven_at"`
	Key             *bytesAnswer `json:"key"`
	Value           bytesAnswer  `json:"value"`
	Headers         []headerRow  `json:"headers"`
}

type bytesAnswer struct {
	Data      string `json:"data"`
	Encoding  string `json:"encoding"`
	Size      int    `json:"size"`
	Truncated bool   `json:"truncated"`
}

func (b *bytesAnswer) String() string {
	if b == nil {
		return ""
	}
	s := b.Data
	if b.Encoding == "base64" {
		s = "(base64) " + s
	}
	return s + " (" + strconv.Itoa(b.Size) + " B)"
}

type headerRow struct {
	Key   string      `json:"key"`
	Value bytesAnswer `json:"value"`
}

// adminNote is added to the help of the admin-only commands.
const adminNote = "\n\nAdmin token only (HOOKSTREAM_TOKEN set to the server's HOOKSTREAM_ADMIN_TOKEN)."

func (c *cli) tenantsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "tenants",
		Aliases: []string{"tenant"},
		Short:   "Manage tenants (admin)",
		Long:    "Manage tenants: each owns its endpoints, events and deliveries." + adminNote,
		Args:    cobra.NoArgs,
		RunE:    helpIfNoArgs,
	}
	var lf listFlags
	list := &cobra.Command{
		Use:   "list",
		Short: "List tenants, by id",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return showPage(c, cmd, "/v1/tenants", lf.query(), []string{"ID", "NAME", "CREATED"}, func(t tenantAnswer) []string {
				return []string{t.ID, t.Name, when(&t.CreatedAt)}
			})
		},
	}
	lf.add(list)
	var id, name string
	create := &cobra.Command{
		Use:   "create [--id ID] [--name NAME]",
		Short: "Create a tenant",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			body := map[string]any{"name": name}
			if id != "" {
				body["id"] = id
			}
			return c.tenantCall(cmd, http.MethodPost, "/v1/tenants", body)
		},
	}
	create.Flags().StringVar(&id, "id", "", "the tenant's id (default: generated tn_…)")
	create.Flags().StringVar(&name, "name", "", "a name for people")
	get := &cobra.Command{
		Use:   "get TENANT_ID",
		Short: "Show a tenant",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.tenantCall(cmd, http.MethodGet, "/v1/tenants/"+seg(args[0]), nil)
		},
	}
	cmd.AddCommand(list, create, get)
	return cmd
}

func (c *cli) tenantCall(cmd *cobra.Command, method, path string, body any) error {
	return show(c, cmd, method, path, nil, body, func(t tenantAnswer) error {
		return c.fields("id", t.ID, "name", t.Name, "created", when(&t.CreatedAt))
	})
}

func (c *cli) keysCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "keys",
		Aliases: []string{"key"},
		Short:   "Manage tenants' API keys (admin)",
		Long:    "Manage the API keys (hsk_…) a tenant's services and people use." + adminNote,
		Args:    cobra.NoArgs,
		RunE:    helpIfNoArgs,
	}
	var lf listFlags
	list := &cobra.Command{
		Use:   "list TENANT_ID",
		Short: "List a tenant's keys (never their secrets)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return showPage(c, cmd, "/v1/tenants/"+seg(args[0])+"/keys", lf.query(), []string{"ID", "NAME", "CREATED", "LAST USED", "REVOKED"},
				func(k keyAnswer) []string {
					return []string{k.ID, k.Name, when(&k.CreatedAt), when(k.LastUsedAt), when(k.RevokedAt)}
				})
		},
	}
	lf.add(list)
	var name string
	create := &cobra.Command{
		Use:   "create TENANT_ID [--name NAME]",
		Short: "Create an API key; the key is shown once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var body any
			if name != "" {
				body = map[string]any{"name": name}
			}
			return c.keyCall(cmd, "/v1/tenants/"+seg(args[0])+"/keys", body)
		},
	}
	create.Flags().StringVar(&name, "name", "", "what the key is for")
	revoke := &cobra.Command{
		Use:   "revoke TENANT_ID KEY_ID",
		Short: "Revoke an API key",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.keyCall(cmd, "/v1/tenants/"+seg(args[0])+"/keys/"+seg(args[1])+"/revoke", nil)
		},
	}
	cmd.AddCommand(list, create, revoke)
	return cmd
}

func (c *cli) keyCall(cmd *cobra.Command, path string, body any) error {
	return show(c, cmd, http.MethodPost, path, nil, body, c.showKey)
}

// showKey prints an API key for people, and says when it is shown once.
func (c *cli) showKey(k keyAnswer) error {
	if err := c.fields("id", k.ID, "tenant", k.Tenant, "name", k.Name, "created", when(&k.CreatedAt),
		"revoked", when(k.RevokedAt), "key", k.Key); err != nil {
		return err
	}
	if k.Key != "" {
		fmt.Fprintln(c.stderr, "The key is shown only now: store it where the tenant's services read it.")
	}
	return nil
}

func (c *cli) quarantineCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "quarantine",
		Short: "Inspect and re-drive poison records (admin)",
		Long: `Records a stage could never process (poison) are moved to the quarantine
topic with the stage and the reason. List them, look at one, and once the
cause is fixed, re-drive it to the topic it came from (docs/operations.md).` + adminNote,
		Args: cobra.NoArgs,
		RunE: helpIfNoArgs,
	}
	var (
		lf    listFlags
		stage string
	)
	list := &cobra.Command{
		Use:   "list [--stage hookstream-dispatch]",
		Short: "List quarantined records, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := lf.query()
			if stage != "" {
				q.Set("stage", stage)
			}
			return showPage(c, cmd, "/v1/quarantine", q, []string{"ID", "STAGE", "TOPIC", "QUARANTINED", "REDRIVEN", "REASON"},
				func(r quarantinedAnswer) []string {
					return []string{r.ID, r.Stage, r.Topic, when(&r.QuarantinedAt), when(r.RedrivenAt), shorten(r.Reason, 80)}
				})
		},
	}
	lf.add(list)
	list.Flags().StringVar(&stage, "stage", "", "only records of this stage (a consumer group, such as hookstream-dispatch)")
	get := &cobra.Command{
		Use:   "get RECORD_ID",
		Short: "Show a quarantined record whole",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.quarantineCall(cmd, http.MethodGet, "/v1/quarantine/"+seg(args[0]))
		},
	}
	redrive := &cobra.Command{
		Use:   "redrive RECORD_ID",
		Short: "Put a record back on the topic it came from (once)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.quarantineCall(cmd, http.MethodPost, "/v1/quarantine/"+seg(args[0])+"/redrive")
		},
	}
	cmd.AddCommand(list, get, redrive)
	return cmd
}

func (c *cli) quarantineCall(cmd *cobra.Command, method, path string) error {
	return show(c, cmd, method, path, nil, nil, c.showQuarantined)
}

// showQuarantined prints a quarantined record for people.
func (c *cli) showQuarantined(r quarantinedAnswer) error {
	if err := c.fields("id", r.ID, "stage", r.Stage, "reason", r.Reason, "topic", r.Topic,
		"source", fmt.Sprintf("partition %d offset %d", r.SourcePartition, r.SourceOffset),
		"quarantined", when(&r.QuarantinedAt), "redriven", when(r.RedrivenAt),
		"key", r.Key.String(), "value", r.Value.String()); err != nil {
		return err
	}
	for _, h := range r.Headers {
		fmt.Fprintf(c.stdout, "header %s: %s\n", oneLine(h.Key), oneLine(h.Value.String()))
	}
	return nil
}

// shorten cuts s to at most n bytes, on a character boundary, marking the
// cut.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + " …"
}
