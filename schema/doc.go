// Package schema defines hookstream's messages and its Postgres schema.
//
// Three JSON messages travel through Kafka: the Event a service publishes to
// the events topic, the Task the dispatcher produces for every subscribed
// endpoint (deliveries and retry topics), and the Attempt outcome every send
// produces (attempts topic). Events are a public contract (any Kafka client
// may publish them, see docs/publishing.md); tasks and attempts are internal but
// versioned so that instances of different versions can share a cluster.
//
// The package also embeds the Postgres migrations and holds the small domain
// types (Endpoint) that several stages share. It imports nothing of
// hookstream and does no I/O.
package schema
