// Command faults runs hookstream through the faults it must survive and
// checks that nothing is lost: kill -9 of the process (or of one role when
// roles run apart), the Kafka broker stopped and started, Postgres stopped
// for a while, a second instance joining and leaving, graceful shutdown,
// and poison records among good ones.
//
// Each run publishes a known set of events (one delivery each, spread over
// many endpoints, some of which fail at first and some always), applies its
// fault while the deliveries are in flight, waits until every delivery is
// settled, then checks the receiver's log and Postgres: every delivery
// answered 2xx or recorded dead, each recorded once; duplicates counted.
//
//	go run ./cmd/hookstream-faults -scenarios=all -events=20000
//
// It needs a real broker (HOOKSTREAM_KAFKA_BROKERS, and scripts/kafka-local
// to stop and start it) and its own throwaway Postgres cluster, which it
// starts with scripts/pg-local on a port of its own and stops at will.
// Randomness is seeded (-seed), so a run can be repeated.
package main
