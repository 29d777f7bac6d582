package delivery

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

const forbiddenTarget = "target address not allowed"

// ErrForbiddenTarget reports an IP address the Guard refuses to dial.
var ErrForbiddenTarget = errors.New("delivery: " + forbiddenTarget)

// Guard decides which IP addresses may be dialled, protecting internal
// networks from webhook endpoints pointed at them (SSRF).
//
// The zero Guard refuses every address that is not globally reachable:
// loopback, private (RFC 1918, fc00::/7), link-local, multicast,
// unspecified, broadcast, shared address space (100.64.0.0/10), "this
// network" (0.0.0.0/8), documentation and benchmarking networks, reserved
// space, IPv6 outside global unicast (2000::/3), Teredo and the IETF
// protocol assignments. IPv4-mapped IPv6 addresses are judged as the IPv4
// address they carry, as are NAT64 (64:ff9b::/96) and 6to4 (2002::/16)
// addresses.
//
// Guard checks addresses only; it resolves no names. Sender applies it to
// every address it dials.
type Guard struct {
	// Allow lists prefixes that are permitted even if otherwise refused,
	// for example 127.0.0.0/8 in development or a private receiver network.
	Allow []netip.Prefix
}

// addrRange names a refused range; the name appears in errors.
type addrRange struct {
	prefix netip.Prefix
	class  string
}

// Refused ranges, most specific first within each family. IANA's IPv4 and
// IPv6 special-purpose address registries are the reference.
var (
	refusedV4 = []addrRange{
		{netip.MustParsePrefix("0.0.0.0/32"), "unspecified"},
		{netip.MustParsePrefix("255.255.255.255/32"), "broadcast"},
		{netip.MustParsePrefix("0.0.0.0/8"), "this-network"},
		{netip.MustParsePrefix("10.0.0.0/8"), "private"},
		{netip.MustParsePrefix("100.64.0.0/10"), "shared-address-space"},
		{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
		{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
		{netip.MustParsePrefix("172.16.0.0/12"), "private"},
		{netip.MustParsePrefix("192.0.0.0/24"), "ietf-protocol-assignment"},
		{netip.MustParsePrefix("192.0.2.0/24"), "documentation"},
		{netip.MustParsePrefix("192.88.99.0/24"), "reserved"}, // former 6to4 relay anycast
		{netip.MustParsePrefix("192.168.0.0/16"), "private"},
		{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
		{netip.MustParsePrefix("198.51.100.0/24"), "documentation"},
		{netip.MustParsePrefix("203.0.113.0/24"), "documentation"},
		{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
		{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	}
	refusedV6 = []addrRange{
		{netip.MustParsePrefix("::/128"), "unspecified"},
		{netip.MustParsePrefix("::1/128"), "loopback"},
		{netip.MustParsePrefix("64:ff9b:1::/48"), "nat64-local"},
		{netip.MustParsePrefix("100::/64"), "discard"},
		{netip.MustParsePrefix("2001::/32"), "teredo"},
		{netip.MustParsePrefix("2001:2::/48"), "benchmarking"},
		{netip.MustParsePrefix("2001::/23"), "ietf-protocol-assignment"},
		{netip.MustParsePrefix("2001:db8::/32"), "documentation"},
		{netip.MustParsePrefix("3fff::/20"), "documentation"},
		{netip.MustParsePrefix("fc00::/7"), "private"},
		{netip.MustParsePrefix("fe80::/10"), "link-local"},
		{netip.MustParsePrefix("fec0::/10"), "site-local"},
		{netip.MustParsePrefix("ff00::/8"), "multicast"},
	}
	globalUnicastV6 = netip.MustParsePrefix("2000::/3")
	nat64           = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour       = netip.MustParsePrefix("2002::/16")
)

// Check returns nil if ip may be dialled, or an error wrapping
// ErrForbiddenTarget that names the address and its class, such as
// "loopback" or "private".
func (g Guard) Check(ip netip.Addr) error {
	if reason := g.refusal(ip); reason != "" {
		return fmt.Errorf("%w: %s", ErrForbiddenTarget, reason)
	}
	return nil
}

// Allows reports whether ip is in the allow-list (Allow), whatever its
// class. An IPv4-mapped IPv6 address is judged as the IPv4 address it
// carries too; a zone is ignored.
func (g Guard) Allows(ip netip.Addr) bool {
	ip = ip.WithZone("") // prefixes never contain zoned addresses
	unmapped := ip.Unmap()
	for _, p := range g.Allow {
		if p.Contains(unmapped) || p.Contains(ip) {
			return true
		}
	}
	return false
}

// refusal returns why ip may not be dialled ("loopback address ::1"), or
// "" when it may.
func (g Guard) refusal(ip netip.Addr) string {
	if !ip.IsValid() {
		return "invalid address"
	}
	if g.Allows(ip) {
		return ""
	}
	ip = ip.WithZone("")
	if class := addrClass(ip.Unmap()); class != "" {
		return class + " address " + ip.String()
	}
	return ""
}

// addrClass returns why ip is refused, or "" when it is globally reachable.
// ip must be unmapped and zoneless.
func addrClass(ip netip.Addr) string {
	if ip.Is4() {
		for _, r := range refusedV4 {
			if r.prefix.Contains(ip) {
				return r.class
			}
		}
		return ""
	}
	for _, r := range refusedV6 {
		if r.prefix.Contains(ip) {
			return r.class
		}
	}
	// Translation prefixes carry an IPv4 address: judge that one.
	if nat64.Contains(ip) {
		b := ip.As16()
		if c := addrClass(netip.AddrFrom4([4]byte(b[12:16]))); c != "" {
			return "nat64 " + c
		}
		return ""
	}
	if sixToFour.Contains(ip) {
		b := ip.As16()
		if c := addrClass(netip.AddrFrom4([4]byte(b[2:6]))); c != "" {
			return "6to4 " + c
		}
		return ""
	}
	if !globalUnicastV6.Contains(ip) {
		return "reserved"
	}
	return ""
}

// ParseCIDRs parses a comma-separated list of prefixes such as
// "127.0.0.0/8,::1/128", for Guard.Allow. Spaces around items are trimmed
// and empty items skipped; a bare address means a single-host prefix. An
// empty list returns nil.
func ParseCIDRs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		p, err := parsePrefix(item)
		if err != nil {
			return nil, fmt.Errorf("delivery: parse CIDR list: %w", err)
		}
		out = append(out, p)
	}
	return out, nil
}

func parsePrefix(item string) (netip.Prefix, error) {
	if strings.Contains(item, "/") {
		p, err := netip.ParsePrefix(item)
		if err != nil {
			return netip.Prefix{}, err
		}
		return p.Masked(), nil
	}
	ip, err := netip.ParseAddr(item)
	if err != nil {
		return netip.Prefix{}, err
	}
	if ip.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("address %q: zones are not allowed", item)
	}
	return netip.PrefixFrom(ip, ip.BitLen()), nil
}
