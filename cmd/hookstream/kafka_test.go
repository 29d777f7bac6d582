package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/internal/testenv"
)

// The whole system runs on a cluster that requires SASL (SCRAM), with the
// credentials from configuration: every client of every role logs in.
func TestSystemOnSASLCluster(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(),
		kfake.Superuser("SCRAM-SHA-256", "hook", "s3cret-pass"))
	testenv.Must(t, err, "kfake")
	t.Cleanup(c.Close)
	s := startSystem(t, map[string]string{
		"HOOKSTREAM_KAFKA_BROKERS":        strings.Join(c.ListenAddrs(), ","),
		"HOOKSTREAM_KAFKA_SASL_MECHANISM": "scram-sha-256",
		"HOOKSTREAM_KAFKA_SASL_USERNAME":  "hook",
		"HOOKSTREAM_KAFKA_SASL_PASSWORD":  "s3cret-pass",
	})
	rcv := newReceiver(t, nil)
	s.endpoint(rcv.URL, "invoice.*")
	s.publish("invoice.paid", `{"n":1}`)
	rcv.waitRequests(t, 1, 30*time.Second)
	_, raw := s.get("/metrics")
	if strings.Contains(string(raw), "s3cret-pass") {
		t.Error("the SASL password appears in /metrics")
	}

	// Without the credentials the cluster refuses: the test proves
	// something.
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	testenv.Must(t, err, "client")
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: s.prefix + "events", Value: []byte("x")}).FirstErr(); err == nil {
		t.Error("a client without credentials could produce")
	}
}

func TestKafkaSecurityConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		opts int
		err  string
	}{
		{"none", Config{}, 0, ""},
		{"tls with system roots", Config{KafkaTLS: true}, 1, ""},
		{"plain", Config{KafkaSASLMechanism: "PLAIN", KafkaSASLUsername: "u", KafkaSASLPassword: "p"}, 1, ""},
		{"scram-512 and tls", Config{KafkaTLS: true, KafkaSASLMechanism: "scram-sha-512"}, 2, ""},
		{"unknown mechanism", Config{KafkaSASLMechanism: "GSSAPI", KafkaSASLPassword: "hidden-pw"}, 0, "HOOKSTREAM_KAFKA_SASL_MECHANISM"},
		{"missing CA file", Config{KafkaTLSCAFile: "/nonexistent/ca.pem"}, 0, "HOOKSTREAM_KAFKA_TLS_CA_FILE"},
		{"missing client key", Config{KafkaTLSCertFile: "/nonexistent/c.pem"}, 0, "HOOKSTREAM_KAFKA_TLS_CERT_FILE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts, err := kafkaSecurity(tc.cfg)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one naming %s", err, tc.err)
				}
				if strings.Contains(err.Error(), "hidden-pw") {
					t.Fatal("the password appears in the error")
				}
				return
			}
			if err != nil || len(opts) != tc.opts {
				t.Fatalf("got %d options, %v; want %d", len(opts), err, tc.opts)
			}
		})
	}
}
