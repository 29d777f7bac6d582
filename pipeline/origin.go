package pipeline

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/schema"
)

// HeaderOrigin carries the proof that an event in the reserved
// "hookstream." namespace was published by hookstream itself.
const HeaderOrigin = "hookstream-origin"

// Origin signs and checks hookstream's own events, so that nobody who can
// write the events topic can forge, say, hookstream.endpoint.disabled. The
// signature covers the event's tenant, type, id and data: a header copied
// from a genuine event proves nothing about a record that changes any of
// them.
type Origin struct{ key []byte }

// NewOrigin derives the origin key from the deployment's secret key.
func NewOrigin(secretKey []byte) Origin {
	m := hmac.New(sha256.New, secretKey)
	m.Write([]byte("hookstream origin v1"))
	return Origin{key: m.Sum(nil)}
}

// mac is the HMAC of the event's tenant, type and id, each preceded by its
// length so that no two events share an input, and of the SHA-256 of its
// data as published.
func (o Origin) mac(ev schema.Event) []byte {
	m := hmac.New(sha256.New, o.key)
	m.Write([]byte("v2"))
	var n [binary.MaxVarintLen64]byte
	for _, f := range []string{ev.Tenant, ev.Type, ev.ID} {
		m.Write(n[:binary.PutUvarint(n[:], uint64(len(f)))])
		m.Write([]byte(f))
	}
	data := sha256.Sum256(ev.Data)
	m.Write(data[:])
	return m.Sum(nil)
}

// Header returns the origin header of an event, which must be published
// with exactly this tenant, type, id and data.
func (o Origin) Header(ev schema.Event) kgo.RecordHeader {
	return kgo.RecordHeader{Key: HeaderOrigin, Value: []byte(base64.RawStdEncoding.EncodeToString(o.mac(ev)))}
}

// Verify reports whether r carries a valid origin header for ev, the event
// decoded from it.
func (o Origin) Verify(r *kgo.Record, ev schema.Event) bool {
	if len(o.key) == 0 {
		return false
	}
	for _, h := range r.Headers {
		if h.Key != HeaderOrigin {
			continue
		}
		got, err := base64.RawStdEncoding.DecodeString(string(h.Value))
		return err == nil && hmac.Equal(got, o.mac(ev))
	}
	return false
}
