package schema

import (
	"bytes"
	"encoding/base64"
	"strings"
	"unicode/utf8"
)

// MaxDataDepth bounds how deeply an event's data may nest arrays and
// objects. Receivers' JSON parsers commonly stop at a few hundred levels
// (or recurse until their stack runs out); no real payload comes close.
const MaxDataDepth = 128

// CleanText returns s as text every store and viewer can hold: valid UTF-8
// (other bytes become U+FFFD) without NUL (which becomes U+FFFD too). Error
// texts that quote a receiver's bytes pass through it.
func CleanText(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// TextOrBase64 returns bytes from outside (a receiver's answer body, a
// quarantined record) as they can be stored and shown: the text itself when
// it is valid UTF-8 without NUL, else the standard base64 of the bytes and
// true. Bytes cut short in the middle of a character (truncated) still
// count as text.
func TextOrBase64(b []byte, truncated bool) (body string, isBase64 bool) {
	text := b
	if truncated {
		// Drop a last character cut short by the truncation.
		for i := len(text) - 1; i >= 0 && i >= len(text)-utf8.UTFMax; i-- {
			if utf8.RuneStart(text[i]) {
				if !utf8.FullRune(text[i:]) {
					text = text[:i]
				}
				break
			}
		}
	}
	if utf8.Valid(text) && bytes.IndexByte(text, 0) < 0 {
		return string(text), false
	}
	return base64.StdEncoding.EncodeToString(b), true
}

// jsonDepth returns how deeply b nests arrays and objects; b is valid JSON.
func jsonDepth(b []byte) int {
	depth, deepest := 0, 0
	inString, escaped := false, false
	for _, c := range b {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			depth++
			deepest = max(deepest, depth)
		case c == ']' || c == '}':
			depth--
		}
	}
	return deepest
}

// JSONDepth returns how deeply b, valid JSON, nests arrays and objects.
func JSONDepth(b []byte) int { return jsonDepth(b) }
