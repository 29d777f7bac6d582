package delivery

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// Sign returns the Standard Webhooks webhook-signature header value for a
// message: for each key, "v1," followed by the standard base64 encoding of
// HMAC-SHA256(key, id + "." + unix seconds of ts + "." + body), joined by
// single spaces. During a secret rotation pass the current key first and
// the previous one after it, so that receivers holding either verify.
// Sign returns "" when keys is empty.
func Sign(id string, ts time.Time, body []byte, keys ...[]byte) string {
	prefix := id + "." + strconv.FormatInt(ts.Unix(), 10) + "."
	var b strings.Builder
	sum := make([]byte, 0, sha256.Size)
	for i, key := range keys {
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(prefix))
		mac.Write(body)
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("v1,")
		b.WriteString(base64.StdEncoding.EncodeToString(mac.Sum(sum[:0])))
	}
	return b.String()
}
