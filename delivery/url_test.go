package delivery

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestValidateURL(t *testing.T) {
	dev := Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	long := "https://example.com/" + strings.Repeat("a", MaxURLLength)
	tests := []struct {
		name      string
		guard     Guard
		in        string
		ok        bool
		forbidden bool // the error also wraps ErrForbiddenTarget
	}{
		{"https", Guard{}, "https://example.com/hooks", true, false},
		{"http with port and query", Guard{}, "http://example.com:8080/h?x=1", true, false},
		{"userinfo is kept", Guard{}, "https://user:pass@example.com/h", true, false},
		{"upper-case scheme", Guard{}, "HTTPS://example.com/", true, false},
		{"public IPv4 literal", Guard{}, "https://8.8.8.8/h", true, false},
		{"public IPv6 literal", Guard{}, "https://[2606:4700::1111]:8443/h", true, false},
		{"hostname not resolved", Guard{}, "http://localhost:8080/h", true, false},
		{"exactly max length", Guard{}, "https://example.com/" + strings.Repeat("a", MaxURLLength-len("https://example.com/")), true, false},
		{"allowed loopback", dev, "http://127.0.0.1:9000/h", true, false},
		{"underscore in host name", Guard{}, "https://my_host.example/", true, false},
		{"international host name", Guard{}, "https://bücher.example/", true, false},

		{"empty", Guard{}, "", false, false},
		{"too long", Guard{}, long, false, false},
		{"relative", Guard{}, "/hooks", false, false},
		{"no scheme", Guard{}, "example.com/hooks", false, false},
		{"ftp", Guard{}, "ftp://example.com/", false, false},
		{"javascript", Guard{}, "javascript:alert(1)", false, false},
		{"opaque", Guard{}, "http:example.com", false, false},
		{"no host", Guard{}, "http:///path", false, false},
		{"port only", Guard{}, "http://:80/", false, false},
		{"fragment", Guard{}, "https://example.com/h#frag", false, false},
		{"empty fragment", Guard{}, "https://example.com/h#", false, false},
		{"port zero", Guard{}, "https://example.com:0/", false, false},
		{"port too big", Guard{}, "https://example.com:70000/", false, false},
		{"bad port", Guard{}, "https://user:pass@example.com:abc/", false, false},
		{"space in host", Guard{}, "https://exa mple.com/", false, false},
		{"control char", Guard{}, "https://example.com/\x7f", false, false},
		{"loopback literal", Guard{}, "http://127.0.0.1/h", false, true},
		{"loopback IPv6 literal", Guard{}, "http://[::1]:80/h", false, true},
		{"mapped loopback literal", Guard{}, "http://[::ffff:127.0.0.1]/h", false, true},
		{"metadata literal", Guard{}, "http://169.254.169.254/latest/meta-data", false, true},
		{"private literal", dev, "http://10.0.0.1/h", false, true},
		{"decimal IPv4 host", Guard{}, "http://2130706433/", false, false},
		{"short IPv4 host", Guard{}, "http://127.1/", false, false},
		{"hex IPv4 host", Guard{}, "http://0x7f.0.0.1/", false, false},
		{"bracket in host name", Guard{}, "https://a]b/", false, false},
		{"sub-delimiter in host name", Guard{}, "https://a!b.example/", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := tt.guard.ValidateURL(tt.in)
			if tt.ok {
				if err != nil {
					t.Fatalf("ValidateURL(%q) = %v, want ok", tt.in, err)
				}
				if u == nil || u.Host == "" {
					t.Fatalf("ValidateURL(%q) returned %v", tt.in, u)
				}
				return
			}
			if !errors.Is(err, ErrInvalidURL) {
				t.Fatalf("ValidateURL(%q) = %v, want ErrInvalidURL", tt.in, err)
			}
			if got := errors.Is(err, ErrForbiddenTarget); got != tt.forbidden {
				t.Fatalf("ValidateURL(%q) = %v: wraps ErrForbiddenTarget = %v, want %v", tt.in, err, got, tt.forbidden)
			}
			if strings.Contains(err.Error(), "pass") {
				t.Fatalf("ValidateURL error %q echoes the password", err)
			}
			var ue *URLError
			if !errors.As(err, &ue) || ue.Reason == "" || strings.Contains(ue.Reason, "delivery:") || strings.Contains(ue.Reason, "pass") {
				t.Fatalf("ValidateURL(%q) = %#v, want a *URLError with a clean reason", tt.in, err)
			}
		})
	}
}

// The reason is what the API shows: what is wrong, without the package's
// prefixes.
func TestURLErrorReason(t *testing.T) {
	for _, tc := range []struct{ in, reason string }{
		{"ftp://example.com/", `scheme "ftp" not allowed (want http or https)`},
		{"https://example.com:0/", "port out of range"},
		{"http://127.0.0.1/", "target address not allowed: loopback address 127.0.0.1"},
	} {
		_, err := Guard{}.ValidateURL(tc.in)
		var ue *URLError
		if !errors.As(err, &ue) || ue.Reason != tc.reason {
			t.Errorf("ValidateURL(%q) = %v, want reason %q", tc.in, err, tc.reason)
		}
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://example.com/hooks", "https://example.com/hooks"},
		{"https://example.com", "https://example.com"},
		{"https://user:pass@example.com:8443/a/b", "https://example.com:8443/a/b"},
		{"https://user@example.com/", "https://example.com/"},
		{"https://example.com/h?token=s3cret&x=1", "https://example.com/h?…"},
		{"https://example.com/h?", "https://example.com/h?…"},
		{"https://example.com/h#frag", "https://example.com/h"},
		{"http://[::1]:8080/p", "http://[::1]:8080/p"},
		{"https://example.com/a%20b", "https://example.com/a%20b"},
		{"", "<invalid url>"},
		{"/relative", "<invalid url>"},
		{"mailto:user:pass@example.com", "<invalid url>"},
		{"http://user:pass@[::1", "<invalid url>"},
		{"https://user:pass@example.com:abc/", "<invalid url>"},
		{"https://example.com/\x00", "<invalid url>"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := RedactURL(tt.in); got != tt.want {
				t.Fatalf("RedactURL(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
