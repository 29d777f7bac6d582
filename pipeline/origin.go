package pipeline

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"

	"github.com/twmb/franz-go/pkg/kgo"
)

// HeaderOrigin carries the proof that an event in the reserved
// "hookstream." namespace was published by hookstream itself.
const HeaderOrigin = "hookstream-origin"

// Origin signs and checks hookstream's own events, so that nobody who can
// write the events topic can forge, say, hookstream.endpoint.disabled.
type Origin struct{ key []byte }

// NewOrigin derives the origin key from the deployment's secret key.
func NewOrigin(secretKey []byte) Origin {
	m := hmac.New(sha256.New, secretKey)
	m.Write([]byte("hookstream origin v1"))
	return Origin{key: m.Sum(nil)}
}

func (o Origin) mac(eventID string) []byte {
	m := hmac.New(sha256.New, o.key)
	m.Write([]byte(eventID))
	return m.Sum(nil)
}

// Header returns the origin header for an event id.
func (o Origin) Header(eventID string) kgo.RecordHeader {
	return kgo.RecordHeader{Key: HeaderOrigin, Value: []byte(base64.RawStdEncoding.EncodeToString(o.mac(eventID)))}
}

// Verify reports whether r carries a valid origin header for eventID.
func (o Origin) Verify(r *kgo.Record, eventID string) bool {
	if len(o.key) == 0 {
		return false
	}
	for _, h := range r.Headers {
		if h.Key != HeaderOrigin {
			continue
		}
		got, err := base64.RawStdEncoding.DecodeString(string(h.Value))
		return err == nil && hmac.Equal(got, o.mac(eventID))
	}
	return false
}
