package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/hookstream/hookstream/seal"
)

// dev runs every role in one process: an embedded Kafka (kfake) unless
// brokers are configured, local receivers allowed, migrations applied, and
// a banner with the API address, the admin token and an example.
func dev(ctx context.Context, cfg Config, log *slog.Logger, stdout io.Writer) error {
	if len(cfg.KafkaBrokers) == 0 {
		// On a known port (HOOKSTREAM_DEV_KAFKA_PORT), so that any Kafka
		// client (kcat, a Java service) can publish to it.
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(cfg.DevKafkaPort))
		if err != nil {
			return fmt.Errorf("dev: embedded kafka on 127.0.0.1:%d: %w", cfg.DevKafkaPort, err)
		}
		defer c.Close()
		cfg.KafkaBrokers = c.ListenAddrs()
		log.Info("embedded kafka listening", "brokers", cfg.KafkaBrokers)
	}
	if cfg.AllowedTargetCIDRs == "" {
		cfg.AllowedTargetCIDRs = "127.0.0.0/8,::1/128"
	}
	if cfg.AdminToken == "" {
		b := make([]byte, 24)
		_, _ = rand.Read(b)
		cfg.AdminToken = "hs_admin_" + base64.RawURLEncoding.EncodeToString(b)
	}
	if cfg.SecretKey == "" {
		cfg.SecretKey = seal.GenerateKey()
		log.Warn("HOOKSTREAM_SECRET_KEY not set: using a key for this run only; endpoints created now cannot be read after a restart")
	}
	if err := migrate(ctx, cfg, log); err != nil {
		return err
	}
	return run(ctx, cfg, log, func(addrs listening) {
		fmt.Fprint(stdout, banner(addrs, cfg))
	})
}

// baseURL is the URL of a listen address, on 127.0.0.1 when it names no
// host.
func baseURL(addr string) string {
	if len(addr) > 0 && addr[0] == ':' {
		return "http://127.0.0.1" + addr
	}
	return "http://" + addr
}

func banner(addrs listening, cfg Config) string {
	base := baseURL(addrs.HTTP)
	metrics := "off"
	if addrs.Metrics != "" {
		metrics = baseURL(addrs.Metrics) + "/metrics"
	}
	return fmt.Sprintf(`
hookstream is running
  API          %[1]s   (/v1/…, /healthz, /readyz)
  console      %[1]s/console   (sign in with the admin token)
  metrics      %[5]s
  Kafka        %[2]s   (publish to topic %[3]sevents)
  admin token  %[4]s

Try it:
  export TOKEN=%[4]s
  curl -s -X POST %[1]s/v1/endpoints -H "Authorization: Bearer $TOKEN" \
       -d '{"url":"http://127.0.0.1:9000/hook","event_types":["invoice.*"]}'
  curl -s -X POST %[1]s/v1/events -H "Authorization: Bearer $TOKEN" \
       -d '{"type":"invoice.paid","data":{"invoice":"in_1","amount":4200}}'
  echo '{"tenant":"default","type":"invoice.paid","data":{"invoice":"in_2"}}' | kcat -P -b %[2]s -t %[3]sevents
  curl -s "%[1]s/v1/deliveries" -H "Authorization: Bearer $TOKEN"

Or with this binary as a client (hookstream --help):
  export HOOKSTREAM_API_URL=%[1]s HOOKSTREAM_TOKEN=%[4]s
  hookstream deliveries tail
  hookstream listen --forward-to http://127.0.0.1:3000/hook

`, base, cfg.KafkaBrokers[0], cfg.TopicPrefix, cfg.AdminToken, metrics)
}
