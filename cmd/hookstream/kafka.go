package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/pipeline"
)

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

// kafkaLogger passes franz-go's warnings and errors to slog.
type kafkaLogger struct{ log *slog.Logger }

var _ kgo.Logger = kafkaLogger{}

func (kafkaLogger) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (l kafkaLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	lvl := slog.LevelWarn
	if level == kgo.LogLevelError {
		lvl = slog.LevelError
	}
	l.log.Log(context.Background(), lvl, msg, keyvals...)
}
