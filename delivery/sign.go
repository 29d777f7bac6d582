package delivery

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// Sign returns the Standard Webhooks webhook-signature header value for a
// message: for each key, its version and the standard base64 encoding of
// its signature of id + "." + unix seconds of ts + "." + body, joined by
// single spaces. An HMAC key gives "v1," and HMAC-SHA256(key, content); an
// Ed25519 key gives "v1a," and the Ed25519 signature of the content.
// During a rotation pass the current key first and the previous one after
// it, so that receivers holding either verify. Sign returns "" when keys
// is empty.
func Sign(id string, ts time.Time, body []byte, keys ...Key) string {
	prefix := id + "." + strconv.FormatInt(ts.Unix(), 10) + "."
	var (
		b       strings.Builder
		content []byte // prefix + body, made for the first Ed25519 key
	)
	sum := make([]byte, 0, sha256.Size)
	for i, key := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		if key.ed != nil {
			if content == nil {
				content = make([]byte, 0, len(prefix)+len(body))
				content = append(append(content, prefix...), body...)
			}
			b.WriteString("v1a,")
			b.WriteString(base64.StdEncoding.EncodeToString(ed25519.Sign(key.ed, content)))
			continue
		}
		mac := hmac.New(sha256.New, key.mac)
		mac.Write([]byte(prefix))
		mac.Write(body)
		b.WriteString("v1,")
		b.WriteString(base64.StdEncoding.EncodeToString(mac.Sum(sum[:0])))
	}
	return b.String()
}
