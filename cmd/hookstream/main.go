// Command hookstream delivers webhooks for services that publish their
// events to Kafka. One binary runs any set of roles:
//
//	hookstream run [--roles=api,dispatch,deliver,retry,sink]
//	hookstream migrate
//	hookstream dev       everything in one process on an embedded Kafka
//
// Configuration comes from HOOKSTREAM_* environment variables (see
// docs/configuration.md).
//
// The same binary is the client of a running hookstream API (see
// docs/cli.md): endpoints, events, deliveries (tail follows them live),
// retry, recover, jobs, tenants, keys, quarantine, and listen, which
// forwards a tenant's events to a local URL.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/sethvargo/go-envconfig"

	"github.com/hookstream/hookstream/postgres"
	"github.com/hookstream/hookstream/seal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(Main(ctx, os.Args[1:], envconfig.OsLookuper(), os.Stdout, os.Stderr))
}

const usage = `usage: hookstream <command> [flags]

commands:
  run      run roles (--roles=api,dispatch,deliver,retry,sink; default all)
  migrate  apply the Postgres migrations
  dev      everything in one process on an embedded Kafka (127.0.0.1:9092, or
           HOOKSTREAM_DEV_KAFKA_PORT, unless HOOKSTREAM_KAFKA_BROKERS is set),
           migrations applied

'hookstream --help' lists the client commands too (endpoints, events, …).
`

// Main runs a command and returns the process exit code.
func Main(ctx context.Context, args []string, env envconfig.Lookuper, stdout, stderr io.Writer) int {
	if isServerCommand(args) {
		return serverMain(ctx, args, env, stdout, stderr)
	}
	return cliMain(ctx, args, env, stdout, stderr)
}

// isServerCommand reports whether args run hookstream itself: no command
// or flags only (run), or run, migrate or dev, unless they ask for help.
func isServerCommand(args []string) bool {
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" {
			return false
		}
	}
	return len(args) == 0 || strings.HasPrefix(args[0], "-") ||
		args[0] == "run" || args[0] == "migrate" || args[0] == "dev"
}

// serverMain runs a server command (run, migrate, dev) and returns the
// process exit code.
func serverMain(ctx context.Context, args []string, env envconfig.Lookuper, stdout, stderr io.Writer) int {
	cmd := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	roles := fs.String("roles", "", "comma-separated roles to run (overrides HOOKSTREAM_ROLES)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := loadConfig(ctx, env)
	if err != nil {
		fmt.Fprintln(stderr, "hookstream:", err)
		return 2
	}
	if *roles != "" {
		cfg.Roles = strings.Split(*roles, ",")
		if err := cfg.validate(); err != nil {
			fmt.Fprintln(stderr, "hookstream:", err)
			return 2
		}
	}
	log := newLogger(cfg, stderr)
	switch cmd {
	case "run":
		err = run(ctx, cfg, log, nil)
	case "migrate":
		err = migrate(ctx, cfg, log)
	case "dev":
		err = dev(ctx, cfg, log, stdout)
	default:
		fmt.Fprintf(stderr, "hookstream: unknown command %q\n%s", cmd, usage)
		return 2
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		log.Error("hookstream stopped", "err", err)
		return 1
	}
	return 0
}

func newLogger(cfg Config, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// migrate applies the embedded migrations.
func migrate(ctx context.Context, cfg Config, log *slog.Logger) error {
	if cfg.DatabaseURL == "" {
		return errors.New("config: HOOKSTREAM_DATABASE_URL is required")
	}
	// Migrations never open a secret: any key will do.
	box, err := seal.New(make([]byte, seal.KeySize))
	if err != nil {
		return err
	}
	db, err := postgres.Open(ctx, cfg.DatabaseURL, box)
	if err != nil {
		return err
	}
	defer db.Close()
	applied, err := db.Migrate(ctx)
	if err != nil {
		return err
	}
	log.Info("migrations applied", "applied", applied)
	return nil
}
