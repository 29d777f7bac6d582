// Package delivery makes one webhook attempt and decides what happens next.
//
// It provides:
//   - signing secrets and keys (GenerateSecret, ParseSecret, GenerateKeyPair,
//     ParseKey) and Standard Webhooks signatures (Sign): HMAC-SHA256 ("v1")
//     and Ed25519 ("v1a"), with several keys during a rotation;
//   - payload formats (Encode): the event's data, the Standard Webhooks
//     envelope, CloudEvents' HTTP binding in binary and structured mode;
//   - SSRF protection (Guard): which IP addresses may be dialled, checked
//     when an endpoint URL is validated and again for every resolved address
//     at dial time, so DNS rebinding cannot reach internal networks;
//   - the HTTP attempt (Sender.Send): one signed POST, no redirects followed,
//     a bounded capture of the response, transport errors classified and
//     stripped of credentials and query strings;
//   - retry classification (Classify, StatusClass) in one place;
//   - backoff arithmetic (Schedule, TierName, Jitter) as pure functions.
//
// It does not know Kafka, SQL or endpoint state: it neither retries nor
// waits by itself, stores nothing, and reads no configuration. Callers
// decide when to send, record the Result, and route the delivery to the
// tier the Schedule names. It imports nothing of hookstream.
package delivery
