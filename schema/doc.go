// Package schema defines hookstream's messages and its Postgres schema.
//
// Three JSON messages travel through Kafka: the Event a service publishes to
// the events topic, the Task the dispatcher produces for every subscribed
// endpoint (deliveries and retry topics), and the Attempt outcome every send
// produces (attempts topic). Events are a public contract (any Kafka client
// may publish them, see docs/publishing.md); tasks and attempts are internal but
// versioned so that instances of different versions can share a cluster.
//
// It is also hookstream's domain: the types the stores keep and the API
// shows (Tenant, APIKey, Endpoint, StoredEvent, Delivery, AttemptRecord,
// Job, Quarantined), their states, the filters and cursors that list them,
// and the errors every adapter returns (ErrNotFound, ErrConflict, ...),
// each an *Error with a code (ErrorCode). Adapters (postgres, api, the
// pipeline's stages) depend on it, never on each other's types. It embeds
// the Postgres migrations too. It imports nothing of hookstream and does
// no I/O.
package schema
