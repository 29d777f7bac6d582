package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/hookstream/hookstream/pipeline"
)

// kafkaSecurity returns the TLS and SASL options of the Kafka clients. The
// password never appears in an error.
func kafkaSecurity(cfg Config) ([]kgo.Opt, error) {
	var opts []kgo.Opt
	if cfg.KafkaTLS || cfg.KafkaTLSCAFile != "" || cfg.KafkaTLSCertFile != "" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if cfg.KafkaTLSCAFile != "" {
			pem, err := os.ReadFile(cfg.KafkaTLSCAFile)
			if err != nil {
				return nil, fmt.Errorf("config: HOOKSTREAM_KAFKA_TLS_CA_FILE: %w", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return nil, errors.New("config: HOOKSTREAM_KAFKA_TLS_CA_FILE: no PEM certificate in it")
			}
		}
		if cfg.KafkaTLSCertFile != "" || cfg.KafkaTLSKeyFile != "" {
			cert, err := tls.LoadX509KeyPair(cfg.KafkaTLSCertFile, cfg.KafkaTLSKeyFile)
			if err != nil {
				return nil, fmt.Errorf("config: HOOKSTREAM_KAFKA_TLS_CERT_FILE/KEY_FILE: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	user, pass := cfg.KafkaSASLUsername, cfg.KafkaSASLPassword
	switch strings.ToUpper(cfg.KafkaSASLMechanism) {
	case "":
	case "PLAIN":
		opts = append(opts, kgo.SASL(plain.Auth{User: user, Pass: pass}.AsMechanism()))
	case "SCRAM-SHA-256":
		opts = append(opts, kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()))
	case "SCRAM-SHA-512":
		opts = append(opts, kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()))
	default:
		return nil, fmt.Errorf("config: HOOKSTREAM_KAFKA_SASL_MECHANISM: %q is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", cfg.KafkaSASLMechanism)
	}
	return opts, nil
}

// maxRecordBytes is the largest record hookstream writes: a task carries
// its event, plus ids and headers.
func maxRecordBytes(cfg Config) int { return cfg.MaxEventBytes + 256<<10 }

// ensureTopics creates the deployment's topics that do not exist yet, with
// room for the largest record hookstream writes.
func ensureTopics(ctx context.Context, cfg Config, topics pipeline.Topics, kopts []kgo.Opt) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(cfg.KafkaBrokers...)}, kopts...)...)
	if err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	max := strconv.Itoa(maxRecordBytes(cfg))
	configs := map[string]*string{"max.message.bytes": &max}
	var lastErr error
	for try := 0; try < 30; try++ {
		resp, err := adm.CreateTopics(ctx, cfg.TopicPartitions, cfg.TopicReplication, configs, topics.All()...)
		if err == nil {
			lastErr = nil
			for _, t := range resp.Sorted() {
				if t.Err != nil && !errors.Is(t.Err, kerr.TopicAlreadyExists) {
					lastErr = fmt.Errorf("kafka: create topic %s: %w", t.Topic, t.Err)
				}
			}
			if lastErr == nil {
				// A topic just created is unknown to the brokers for a
				// moment (longer on a busy cluster): a producer gives
				// up on an unknown topic after a few retries, so the
				// first publishes would be refused.
				lastErr = leaders(ctx, adm, topics.All())
			}
			if lastErr == nil {
				return nil
			}
		} else {
			lastErr = fmt.Errorf("kafka: create topics: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return lastErr
}

// leaders returns nil once every partition of the topics has a leader in
// the brokers' metadata.
func leaders(ctx context.Context, adm *kadm.Client, topics []string) error {
	td, err := adm.ListTopics(ctx, topics...)
	if err != nil {
		return fmt.Errorf("kafka: list topics: %w", err)
	}
	for _, name := range topics {
		d, ok := td[name]
		if !ok || d.Err != nil || len(d.Partitions) == 0 {
			return fmt.Errorf("kafka: topic %s is not known to the brokers yet", name)
		}
		for _, p := range d.Partitions {
			if p.Err != nil || p.Leader < 0 {
				return fmt.Errorf("kafka: topic %s partition %d has no leader yet", name, p.Partition)
			}
		}
	}
	return nil
}

// kafkaLogger passes franz-go's warnings and errors to slog.
type kafkaLogger struct{ log *slog.Logger }

var _ kgo.Logger = kafkaLogger{}

// Level passes franz-go's info messages (rebalances, transactions) when
// hookstream logs at debug level; warnings and errors otherwise.
func (l kafkaLogger) Level() kgo.LogLevel {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		return kgo.LogLevelInfo
	}
	return kgo.LogLevelWarn
}

func (l kafkaLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	lvl := slog.LevelWarn
	switch level {
	case kgo.LogLevelError:
		lvl = slog.LevelError
	case kgo.LogLevelInfo, kgo.LogLevelDebug:
		lvl = slog.LevelDebug
	}
	l.log.Log(context.Background(), lvl, msg, keyvals...)
}
