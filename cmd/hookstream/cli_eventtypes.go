package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

type eventTypeAnswer struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Schema      json.RawMessage `json:"schema"`
	Example     json.RawMessage `json:"example"`
	Deprecated  bool            `json:"deprecated"`
	Validate    bool            `json:"validate"`
	Shared      bool            `json:"shared"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
}

// eventTypeFlags are the fields create and update take.
type eventTypeFlags struct {
	description, schema, example string
	deprecated, validate, shared bool
}

func (f *eventTypeFlags) add(cmd *cobra.Command, update bool) {
	fl := cmd.Flags()
	fl.StringVar(&f.description, "description", "", "what the type means, for subscribers")
	fl.StringVar(&f.schema, "schema", "", "JSON Schema of the data: JSON, @file, or - for stdin"+map[bool]string{true: "; null removes it"}[update])
	fl.StringVar(&f.example, "example", "", "an example of the data, checked against the schema: JSON, @file or -"+map[bool]string{true: "; null removes it"}[update])
	fl.BoolVar(&f.deprecated, "deprecated", false, "mark the type deprecated")
	fl.BoolVar(&f.validate, "validate", false, "check this type's events against the schema (422 / the invalid topic)")
	if !update {
		fl.BoolVar(&f.shared, "shared", false, "a type for every tenant (admin token)")
	}
}

// body returns the request body of the flags that were set.
func (f *eventTypeFlags) body(cmd *cobra.Command) (map[string]any, error) {
	b := map[string]any{}
	set := cmd.Flags().Changed
	if set("description") {
		b["description"] = f.description
	}
	for _, j := range []struct{ flag, val string }{{"schema", f.schema}, {"example", f.example}} {
		if !set(j.flag) {
			continue
		}
		raw, err := readData(j.val, cmd.InOrStdin())
		if err != nil {
			return nil, usageError{fmt.Errorf("--%s: %w", j.flag, errorCause(err))}
		}
		b[j.flag] = raw
	}
	if set("deprecated") {
		b["deprecated"] = f.deprecated
	}
	if set("validate") {
		b["validate"] = f.validate
	}
	if set("shared") {
		b["shared"] = f.shared
	}
	return b, nil
}

// errorCause drops readData's own "--data: " from its message.
func errorCause(err error) error {
	return fmt.Errorf("%s", strings.TrimPrefix(err.Error(), "--data: "))
}

func (c *cli) eventTypesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "event-types",
		Aliases: []string{"event-type", "types"},
		Short:   "The event-type catalog: what can be subscribed to, with JSON Schemas",
		Args:    cobra.NoArgs,
		RunE:    helpIfNoArgs,
	}
	var lf listFlags
	list := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the event types the tenant's events may have (its own and the shared ones)",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return showPage(c, cmd, "/v1/event-types", lf.query(), []string{"NAME", "FLAGS", "SCHEMA", "DESCRIPTION"},
				func(t eventTypeAnswer) []string {
					var flags []string
					for _, f := range []struct {
						on   bool
						name string
					}{{t.Shared, "shared"}, {t.Validate, "validate"}, {t.Deprecated, "deprecated"}} {
						if f.on {
							flags = append(flags, f.name)
						}
					}
					sch := "-"
					if t.Schema != nil {
						sch = strconv.Itoa(len(t.Schema)) + " B"
					}
					return []string{t.Name, strings.Join(flags, ","), sch, clipRunes(oneLine(t.Description), 60)}
				})
		},
	}
	lf.add(list)

	var cf eventTypeFlags
	create := &cobra.Command{
		Use:   "create NAME [--description …] [--schema @schema.json] [--example @example.json] [--validate]",
		Short: "Add an event type to the catalog",
		Example: `  hookstream event-types create invoice.paid --description 'An invoice was paid' \
      --schema '{"type":"object","required":["invoice"]}' --example '{"invoice":"in_1"}' --validate`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			body, err := cf.body(cmd)
			if err != nil {
				return err
			}
			body["name"] = args[0]
			return show(c, cmd, http.MethodPost, "/v1/event-types", nil, body, c.showEventType)
		},
	}
	cf.add(create, false)

	get := &cobra.Command{
		Use:   "get NAME",
		Short: "Show an event type with its schema and example",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return show(c, cmd, http.MethodGet, "/v1/event-types/"+seg(args[0]), nil, nil, c.showEventType)
		},
	}

	var uf eventTypeFlags
	update := &cobra.Command{
		Use:   "update NAME [--description …] [--schema …|null] [--example …|null] [--deprecated] [--validate=false]",
		Short: "Change an event type's fields; those not given stay",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			body, err := uf.body(cmd)
			if err != nil {
				return err
			}
			if len(body) == 0 {
				return usageError{fmt.Errorf("nothing to update: give at least one of --description, --schema, --example, --deprecated, --validate")}
			}
			return show(c, cmd, http.MethodPatch, "/v1/event-types/"+seg(args[0]), nil, body, c.showEventType)
		},
	}
	uf.add(update, true)

	del := c.deleteCommand("delete NAME", "Remove an event type from the catalog", "/v1/event-types/")
	cmd.AddCommand(list, create, get, update, del)
	return cmd
}

// showEventType prints an event type for people.
func (c *cli) showEventType(t eventTypeAnswer) error {
	if err := c.fields("name", t.Name, "description", t.Description, "shared", strconv.FormatBool(t.Shared),
		"validate", strconv.FormatBool(t.Validate), "deprecated", strconv.FormatBool(t.Deprecated),
		"created", when(&t.CreatedAt), "updated", when(&t.UpdatedAt)); err != nil {
		return err
	}
	for _, j := range []struct {
		name string
		raw  json.RawMessage
	}{{"schema", t.Schema}, {"example", t.Example}} {
		if j.raw != nil {
			fmt.Fprintln(c.stdout, j.name+":")
			if err := c.printJSON(j.raw); err != nil {
				return err
			}
		}
	}
	return nil
}

// clipRunes cuts s to n runes.
func clipRunes(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
