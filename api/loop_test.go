package api

import (
	"net/netip"
	"net/url"
	"testing"
)

func TestSelfTargets(t *testing.T) {
	local := []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("10.1.2.3"),
		netip.MustParseAddr("fe80::1"), netip.MustParseAddr("2001:db8::7")}
	tests := []struct {
		name, listen string
		public       []string
		refused      []string
		allowed      []string
	}{
		{"every address (the chart's :8080)", "[::]:8080", nil,
			[]string{"http://127.0.0.1:8080/", "http://127.9.9.9:8080/", "http://[::1]:8080/", "http://localhost:8080/",
				"http://10.1.2.3:8080/x", "http://[2001:db8::7]:8080/", "http://0.0.0.0:8080/", "http://[::ffff:10.1.2.3]:8080/"},
			[]string{"http://10.1.2.3:8081/", "http://10.1.2.4:8080/", "https://example.com:8080/", "http://127.0.0.1/"}},
		{"empty host", ":80", nil,
			[]string{"http://127.0.0.1/", "http://10.1.2.3/", "http://localhost/"},
			[]string{"https://127.0.0.1/", "http://127.0.0.1:8080/"}},
		{"loopback (make run)", "127.0.0.1:8080", nil,
			[]string{"http://127.0.0.1:8080/hook", "http://127.0.0.2:8080/", "http://localhost:8080/", "http://a.localhost:8080/", "http://[::1]:8080/"},
			[]string{"http://127.0.0.1:9000/hook", "http://10.1.2.3:8080/"}},
		{"one address", "10.1.2.3:9090", nil,
			[]string{"http://10.1.2.3:9090/"},
			[]string{"http://127.0.0.1:9090/", "http://10.1.2.4:9090/"}},
		{"a name", "api.internal:9090", nil,
			[]string{"https://api.internal:9090/", "https://API.Internal.:9090/"},
			[]string{"https://api.internal/", "http://127.0.0.1:9090/"}},
		{"public URLs", "", []string{"https://hooks.example.com/base", "http://hookstream-api.hooks.svc", "https://203.0.113.9:8443", "ftp://bad"},
			[]string{"https://hooks.example.com/", "https://hooks.example.com:443/x", "http://hookstream-api.hooks.svc:80/", "https://203.0.113.9:8443/"},
			[]string{"http://hooks.example.com/", "https://hooks.example.com:8443/", "https://hookstream-api.hooks.svc/", "https://203.0.113.9/", "ftp://bad/"}},
		{"no listener", "", nil, nil, []string{"http://127.0.0.1:8080/", "http://localhost/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newSelfTargets(tt.listen, tt.public, local)
			for _, want := range []struct {
				urls []string
				self bool
			}{{tt.refused, true}, {tt.allowed, false}} {
				for _, raw := range want.urls {
					u, err := url.Parse(raw)
					if err != nil {
						t.Fatal(err)
					}
					if got := st.match(u); got != want.self {
						t.Errorf("match(%s) = %v, want %v", raw, got, want.self)
					}
				}
			}
		})
	}
}

func TestCheckPublicURL(t *testing.T) {
	for raw, ok := range map[string]bool{
		"https://hooks.example.com":        true,
		"http://hookstream-api.hooks.svc":  true,
		"https://hooks.example.com:8443/x": true,
		" https://hooks.example.com ":      true,
		"hooks.example.com":                false,
		"ftp://hooks.example.com":          false,
		"https://":                         false,
		"https://hooks.example.com:0":      false,
		"https://hooks.example.com:70000":  false,
		"://nope":                          false,
	} {
		if err := CheckPublicURL(raw); (err == nil) != ok {
			t.Errorf("CheckPublicURL(%q) = %v, want ok %v", raw, err, ok)
		}
	}
}
