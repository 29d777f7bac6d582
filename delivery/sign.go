package delivery

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"strconv"
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
	var pbuf [96]byte
	prefix := append(strconv.AppendInt(append(append(pbuf[:0], id...), '.'), ts.Unix(), 10), '.')
	var (
		// The header: "v1," and 44 base64 characters per HMAC key, "v1a,"
		// and 88 per Ed25519 one, a space between two.
		out     = make([]byte, 0, len(keys)*93)
		content []byte // prefix + body, made for the first Ed25519 key
		sum     [sha256.Size]byte
	)
	for i, key := range keys {
		if i > 0 {
			out = append(out, ' ')
		}
		if key.ed != nil {
			if content == nil {
				content = make([]byte, 0, len(prefix)+len(body))
				content = append(append(content, prefix...), body...)
			}
			out = base64.StdEncoding.AppendEncode(append(out, "v1a,"...), ed25519.Sign(key.ed, content))
			continue
		}
		var mac hash.Hash
		if key.macs != nil {
			mac = key.macs.Get().(hash.Hash)
			mac.Reset()
		} else {
			mac = hmac.New(sha256.New, key.mac)
		}
		mac.Write(prefix)
		mac.Write(body)
		out = base64.StdEncoding.AppendEncode(append(out, "v1,"...), mac.Sum(sum[:0]))
		if key.macs != nil {
			key.macs.Put(mac)
		}
	}
	return string(out)
}
