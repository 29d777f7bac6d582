package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// env is what every run shares: the hookstream binary, the broker and the
// harness's own Postgres cluster.
type env struct {
	o            options
	bin          string
	pgURL        string // of the cluster's postgres database
	startedKafka bool
}

func prepare(ctx context.Context, o options) (*env, error) {
	work, err := filepath.Abs(o.work)
	if err != nil {
		return nil, err
	}
	o.work = work
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, err
	}
	e := &env{o: o, bin: filepath.Join(work, "hookstream")}
	fmt.Println("building hookstream…")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", e.bin, "./cmd/hookstream").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build: %v\n%s", err, out)
	}
	if err := e.kafka(ctx, "status"); err != nil {
		fmt.Println("starting the Kafka broker…")
		if err := e.kafka(ctx, "start"); err != nil {
			return nil, err
		}
		e.startedKafka = true
	}
	if err := e.postgres(ctx, "start"); err != nil {
		return nil, err
	}
	e.pgURL = "postgres://postgres@127.0.0.1:" + o.pgPort + "/postgres?sslmode=disable"
	return e, nil
}

func (e *env) close() {
	ctx := context.Background()
	_ = e.postgres(ctx, "stop")
	if e.startedKafka {
		_ = e.kafka(ctx, "stop")
	}
}

// kafka runs scripts/kafka-local with the harness's port.
func (e *env) kafka(ctx context.Context, verb string) error {
	return script(ctx, "scripts/kafka-local", verb, "HOOKSTREAM_KAFKA_PORT="+e.o.kafkaPort)
}

// postgres runs scripts/pg-local on the harness's own cluster.
func (e *env) postgres(ctx context.Context, verb string) error {
	return script(ctx, "scripts/pg-local", verb, "HOOKSTREAM_PG_PORT="+e.o.pgPort,
		"HOOKSTREAM_PG_DIR="+filepath.Join(e.o.work, "pg"))
}

func script(ctx context.Context, path, verb string, env ...string) error {
	cmd := exec.CommandContext(ctx, path, verb)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", path, verb, err, strings.TrimSpace(string(out)))
	}
	return nil
}
