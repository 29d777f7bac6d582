// Package testenv gives tests the real parts they run on: Kafka brokers
// (HOOKSTREAM_KAFKA_BROKERS when set, an in-process kfake cluster
// otherwise), a fresh Postgres database per test (created on the server
// HOOKSTREAM_TEST_DATABASE_URL names), and names that keep tests sharing a
// broker apart.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Brokers returns the seed brokers for a test: HOOKSTREAM_KAFKA_BROKERS
// when set (a real cluster), else a kfake cluster that lives as long as the
// test.
func Brokers(t testing.TB) []string {
	t.Helper()
	if b := os.Getenv("HOOKSTREAM_KAFKA_BROKERS"); b != "" {
		return strings.Split(b, ",")
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// Name returns a short random name with the given prefix, for topics
// prefixes, groups and ids that must not collide between tests.
func Name(prefix string) string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// DatabaseURL creates an empty database for the test and returns its URL;
// the database is dropped when the test ends. Without
// HOOKSTREAM_TEST_DATABASE_URL the test fails, unless it runs with -short,
// where it is skipped.
func DatabaseURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("HOOKSTREAM_TEST_DATABASE_URL")
	if base == "" {
		if testing.Short() {
			t.Skip("needs Postgres: HOOKSTREAM_TEST_DATABASE_URL is not set (-short)")
		}
		t.Fatal("needs Postgres: set HOOKSTREAM_TEST_DATABASE_URL (make test starts one with scripts/pg-local)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to HOOKSTREAM_TEST_DATABASE_URL: %v", err)
	}
	defer admin.Close(ctx)
	name := Name("hstest_")
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Logf("drop database %s: %v", name, err)
			return
		}
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse HOOKSTREAM_TEST_DATABASE_URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// Eventually polls cond every 20ms until it returns true or timeout passes,
// then fails the test with the message. An argument that is a func() any
// is called then, so that the message can show what cond saw last (an
// argument evaluated at the call shows the state before the first poll).
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			for i, a := range args {
				if f, ok := a.(func() any); ok {
					args[i] = f()
				}
			}
			t.Fatalf("after %v: "+format, append([]any{timeout}, args...)...)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Must fails the test on err.
func Must(t testing.TB, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatal(fmt.Errorf("%s: %w", what, err))
	}
}

// WaitTopics waits until every partition of the topics has a leader that
// the brokers' metadata shows: on a real broker, under load, a topic just
// created can be unknown for a while, and a producer gives up on an
// unknown topic after a few retries.
func WaitTopics(t testing.TB, brokers []string, topics ...string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	Must(t, err, "metadata client")
	defer cl.Close()
	adm := kadm.NewClient(cl)
	Eventually(t, 60*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		td, err := adm.ListTopics(ctx, topics...)
		if err != nil {
			return false
		}
		for _, name := range topics {
			d, ok := td[name]
			if !ok || d.Err != nil || len(d.Partitions) == 0 {
				return false
			}
			for _, p := range d.Partitions {
				if p.Err != nil || p.Leader < 0 {
					return false
				}
			}
		}
		return true
	}, "topics %v have no leader", topics)
}
