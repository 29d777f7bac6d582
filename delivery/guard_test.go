package delivery

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestGuardAllows(t *testing.T) {
	g := Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.1.0.0/16")}}
	for _, tc := range []struct {
		ip   string
		want bool
	}{
		{"127.0.0.1", true},
		{"::ffff:127.0.0.1", true}, // mapped: judged as the IPv4 address
		{"10.1.2.3", true},
		{"10.2.0.1", false},
		{"8.8.8.8", false}, // reachable, but not in the list
		{"::1", false},
	} {
		if got := g.Allows(netip.MustParseAddr(tc.ip)); got != tc.want {
			t.Errorf("Allows(%s) = %v, want %v", tc.ip, got, tc.want)
		}
	}
	if (Guard{}).Allows(netip.MustParseAddr("127.0.0.1")) {
		t.Error("the zero Guard allows 127.0.0.1")
	}
}

func TestGuardCheck(t *testing.T) {
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	private10 := []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}
	tests := []struct {
		ip    string
		allow []netip.Prefix
		class string // "" means allowed
	}{
		// IPv4, globally reachable
		{"8.8.8.8", nil, ""},
		{"1.1.1.1", nil, ""},
		{"93.184.216.34", nil, ""},
		{"100.63.255.255", nil, ""},
		{"100.128.0.0", nil, ""},
		{"172.32.0.1", nil, ""},
		{"198.20.0.1", nil, ""},
		{"223.255.255.255", nil, ""},
		// IPv4, refused
		{"0.0.0.0", nil, "unspecified"},
		{"0.1.2.3", nil, "this-network"},
		{"10.0.0.1", nil, "private"},
		{"100.64.0.1", nil, "shared-address-space"},
		{"100.127.255.255", nil, "shared-address-space"},
		{"127.0.0.1", nil, "loopback"},
		{"127.255.255.254", nil, "loopback"},
		{"169.254.169.254", nil, "link-local"},
		{"172.16.0.1", nil, "private"},
		{"172.31.255.255", nil, "private"},
		{"192.0.0.8", nil, "ietf-protocol-assignment"},
		{"192.0.2.1", nil, "documentation"},
		{"192.88.99.1", nil, "reserved"},
		{"192.168.1.1", nil, "private"},
		{"198.18.0.1", nil, "benchmarking"},
		{"198.19.255.255", nil, "benchmarking"},
		{"198.51.100.7", nil, "documentation"},
		{"203.0.113.9", nil, "documentation"},
		{"224.0.0.1", nil, "multicast"},
		{"239.255.255.250", nil, "multicast"},
		{"240.0.0.1", nil, "reserved"},
		{"255.255.255.255", nil, "broadcast"},
		// IPv6, globally reachable
		{"2606:4700:4700::1111", nil, ""},
		{"2a00:1450:4001:82b::200e", nil, ""},
		{"64:ff9b::808:808", nil, ""},     // NAT64 of 8.8.8.8
		{"2002:808:808::1", nil, ""},      // 6to4 of 8.8.8.8
		{"2001:4860:4860::8888", nil, ""}, // outside 2001::/23
		// IPv6, refused
		{"::", nil, "unspecified"},
		{"::1", nil, "loopback"},
		{"fe80::1", nil, "link-local"},
		{"fe80::1%eth0", nil, "link-local"},
		{"febf:ffff::1", nil, "link-local"},
		{"fec0::1", nil, "site-local"},
		{"fc00::1", nil, "private"},
		{"fd12:3456::1", nil, "private"},
		{"ff02::1", nil, "multicast"},
		{"2001:db8::1", nil, "documentation"},
		{"3fff::1", nil, "documentation"},
		{"2001::1", nil, "teredo"},
		{"2001:2::1", nil, "benchmarking"},
		{"2001:10::1", nil, "ietf-protocol-assignment"},
		{"100::1", nil, "discard"},
		{"64:ff9b:1::1", nil, "nat64-local"},
		{"64:ff9b::7f00:1", nil, "nat64 loopback"},
		{"64:ff9b::a9fe:a9fe", nil, "nat64 link-local"},
		{"64:ff9b::10.0.0.1", nil, "nat64 private"},
		{"2002:7f00:1::1", nil, "6to4 loopback"},
		{"2002:c0a8:101::1", nil, "6to4 private"},
		{"::127.0.0.1", nil, "reserved"}, // IPv4-compatible, deprecated
		{"::8.8.8.8", nil, "reserved"},
		{"4000::1", nil, "reserved"},
		{"5f00::1", nil, "reserved"},
		// IPv4-mapped IPv6 is judged as IPv4
		{"::ffff:127.0.0.1", nil, "loopback"},
		{"::ffff:10.0.0.1", nil, "private"},
		{"::ffff:169.254.169.254", nil, "link-local"},
		{"::ffff:0.0.0.0", nil, "unspecified"},
		{"::ffff:8.8.8.8", nil, ""},
		// Allow overrides
		{"127.0.0.1", loopback, ""},
		{"::1", loopback, ""},
		{"::ffff:127.0.0.1", loopback, ""},
		{"10.1.2.3", private10, ""},
		{"10.2.0.1", private10, "private"},
		{"192.168.1.1", loopback, "private"},
		{"fe80::1%eth0", []netip.Prefix{netip.MustParsePrefix("fe80::/10")}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			err := Guard{Allow: tt.allow}.Check(netip.MustParseAddr(tt.ip))
			if tt.class == "" {
				if err != nil {
					t.Fatalf("Check(%s) = %v, want allowed", tt.ip, err)
				}
				return
			}
			if !errors.Is(err, ErrForbiddenTarget) {
				t.Fatalf("Check(%s) = %v, want ErrForbiddenTarget", tt.ip, err)
			}
			if !strings.Contains(err.Error(), ": "+tt.class+" address ") {
				t.Fatalf("Check(%s) = %q, want class %q", tt.ip, err, tt.class)
			}
		})
	}
}

func TestGuardCheckInvalid(t *testing.T) {
	if err := (Guard{}).Check(netip.Addr{}); !errors.Is(err, ErrForbiddenTarget) {
		t.Fatalf("Check(zero Addr) = %v, want ErrForbiddenTarget", err)
	}
}

func TestParseCIDRs(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"", nil, false},
		{"   ", nil, false},
		{"127.0.0.0/8", []string{"127.0.0.0/8"}, false},
		{"127.0.0.0/8,::1/128", []string{"127.0.0.0/8", "::1/128"}, false},
		{" 10.0.0.0/8 , 192.168.0.0/16 ,", []string{"10.0.0.0/8", "192.168.0.0/16"}, false},
		{"10.1.2.3", []string{"10.1.2.3/32"}, false},
		{"::1", []string{"::1/128"}, false},
		{"10.1.2.3/8", []string{"10.0.0.0/8"}, false},
		{"fd00::/8", []string{"fd00::/8"}, false},
		{"10.0.0.0/33", nil, true},
		{"not-an-ip", nil, true},
		{"10.0.0.0/8,bogus", nil, true},
		{"fe80::1%eth0", nil, true},
		{"300.1.1.1", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseCIDRs(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseCIDRs(%q) = %v, want error", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("ParseCIDRs(%q) = %v, want %v", tt.in, got, tt.want)
			}
			for i := range got {
				if got[i].String() != tt.want[i] {
					t.Fatalf("ParseCIDRs(%q)[%d] = %s, want %s", tt.in, i, got[i], tt.want[i])
				}
			}
			if tt.want == nil && got != nil {
				t.Fatalf("ParseCIDRs(%q) = %#v, want nil", tt.in, got)
			}
		})
	}
}
