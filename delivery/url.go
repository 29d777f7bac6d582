package delivery

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// MaxURLLength is the longest endpoint URL ValidateURL accepts, in bytes.
const MaxURLLength = 2048

// ErrInvalidURL reports an endpoint URL that cannot be used. Errors wrapping
// it never repeat the URL's userinfo or query.
var ErrInvalidURL = errors.New("delivery: invalid endpoint URL")

// URLError says why ValidateURL refused an endpoint URL. It wraps
// ErrInvalidURL, and ErrForbiddenTarget for an IP the Guard refuses.
type URLError struct {
	// Reason is meant for whoever supplied the URL ("port out of range");
	// it never holds the URL's userinfo or query.
	Reason    string
	forbidden bool
}

func (e *URLError) Error() string { return ErrInvalidURL.Error() + ": " + e.Reason }

// Unwrap makes errors.Is(err, ErrInvalidURL) hold, and
// errors.Is(err, ErrForbiddenTarget) for a refused IP.
func (e *URLError) Unwrap() []error {
	if e.forbidden {
		return []error{ErrInvalidURL, ErrForbiddenTarget}
	}
	return []error{ErrInvalidURL}
}

func invalidURL(format string, args ...any) *URLError {
	return &URLError{Reason: fmt.Sprintf(format, args...)}
}

// ValidateURL checks an endpoint URL when the endpoint is created: an
// absolute http or https URL with a host, an optional port in 1–65535, no
// fragment, at most MaxURLLength bytes. A host that is an IP literal must
// pass the Guard; host names are not resolved here, since their addresses
// may change: Sender checks every resolved address when it dials. Host
// names that only look like numeric IPv4 forms ("2130706433", "127.1",
// "0x7f.1") are refused too, because some resolvers read them as addresses,
// and so are names with ASCII characters no DNS name has.
//
// Errors are *URLError: they wrap ErrInvalidURL (and ErrForbiddenTarget
// for a refused IP) and never contain the URL's userinfo or query.
func (g Guard) ValidateURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, invalidURL("empty")
	}
	if len(raw) > MaxURLLength {
		return nil, invalidURL("%d bytes long, limit is %d", len(raw), MaxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil {
		// *url.Error quotes the whole URL, password included: drop it.
		return nil, invalidURL("malformed")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		if u.Scheme == "" {
			return nil, invalidURL("not absolute (want http or https)")
		}
		return nil, invalidURL("scheme %q not allowed (want http or https)", u.Scheme)
	}
	if u.Opaque != "" || u.Host == "" || u.Hostname() == "" {
		return nil, invalidURL("no host")
	}
	if strings.Contains(raw, "#") {
		return nil, invalidURL("fragments are not allowed")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, invalidURL("port out of range")
		}
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil {
		if reason := g.refusal(ip); reason != "" {
			return nil, &URLError{Reason: forbiddenTarget + ": " + reason, forbidden: true}
		}
		return u, nil
	}
	if looksNumeric(host) {
		return nil, invalidURL("host looks like a non-canonical IP address")
	}
	if !hostNameChars(host) {
		return nil, invalidURL("host is neither an IP address nor a DNS name")
	}
	return u, nil
}

// hostNameChars reports whether host has only the ASCII characters of DNS
// names (letters, digits, '-', '.', and '_', which some names use); bytes
// past ASCII are left to IDNA. url.Parse lets through much more ("a]b",
// "a!b"), which no resolver finds and other URL parsers refuse.
func hostNameChars(host string) bool {
	for i := 0; i < len(host); i++ {
		c := host[i]
		if c < 0x80 && !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

// looksNumeric reports whether host's last label is all digits or hex
// ("0x…"): no top-level domain is, but inet_aton-style parsers take such
// names for IPv4 addresses.
func looksNumeric(host string) bool {
	host = strings.TrimSuffix(host, ".")
	last := host[strings.LastIndexByte(host, '.')+1:]
	if last == "" {
		return false
	}
	lower := strings.ToLower(last)
	if strings.HasPrefix(lower, "0x") {
		return true
	}
	for _, c := range last {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// RedactURL returns raw reduced to scheme://host[:port]/path for logs and
// errors: userinfo and fragment are removed and a query is replaced by
// "?…". It never fails: anything without a scheme and host, or that does
// not parse, becomes "<invalid url>". The path is kept, so endpoints must
// not carry credentials in it.
func RedactURL(raw string) string {
	const invalid = "<invalid url>"
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" || u.Opaque != "" {
		return invalid
	}
	s := u.Scheme + "://" + u.Host + u.EscapedPath()
	if u.RawQuery != "" || u.ForceQuery {
		s += "?…"
	}
	return s
}
