package api

import (
	"errors"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// selfTargets are the addresses of hookstream's own API. An endpoint may
// not point at one: its deliveries would come back into the API, and an
// event type it subscribes to could loop.
type selfTargets struct {
	loopbackPorts []uint16 // every loopback address, and localhost, at these ports
	addrs         []netip.AddrPort
	names         []string // "host:port", the host in lower case without a final dot
}

// newSelfTargets derives the API's addresses from its listen address
// (host:port; "" for none) and its public URLs. A listener on every
// address (empty or unspecified host) is reached through every loopback
// address and every address in local (the host's interfaces); one on a
// loopback address or localhost, through every loopback address.
func newSelfTargets(listen string, public []string, local []netip.Addr) selfTargets {
	var st selfTargets
	if host, p, err := net.SplitHostPort(listen); err == nil {
		if port, err := strconv.ParseUint(p, 10, 16); err == nil && port > 0 {
			st.add(host, uint16(port), local)
		}
	}
	for _, raw := range public {
		u, err := parsePublicURL(raw)
		if err != nil {
			continue // the configuration checks them with CheckPublicURL
		}
		st.add(u.Hostname(), portOf(u), nil)
	}
	return st
}

func (st *selfTargets) add(host string, port uint16, local []netip.Addr) {
	host = canonicalHost(host)
	ip, err := netip.ParseAddr(host)
	switch {
	case host == "" || err == nil && ip.IsUnspecified():
		st.loopbackPorts = append(st.loopbackPorts, port)
		for _, a := range local {
			st.addrs = append(st.addrs, netip.AddrPortFrom(a.Unmap().WithZone(""), port))
		}
	case err == nil && ip.Unmap().IsLoopback(), isLocalhost(host):
		st.loopbackPorts = append(st.loopbackPorts, port)
	case err == nil:
		st.addrs = append(st.addrs, netip.AddrPortFrom(ip.Unmap().WithZone(""), port))
	default:
		st.names = append(st.names, net.JoinHostPort(host, strconv.Itoa(int(port))))
	}
}

// match reports whether u points at the API.
func (st selfTargets) match(u *url.URL) bool {
	host, port := canonicalHost(u.Hostname()), portOf(u)
	if ip, err := netip.ParseAddr(host); err == nil {
		ip = ip.Unmap().WithZone("")
		if (ip.IsLoopback() || ip.IsUnspecified()) && slices.Contains(st.loopbackPorts, port) {
			return true
		}
		return slices.Contains(st.addrs, netip.AddrPortFrom(ip, port))
	}
	if isLocalhost(host) && slices.Contains(st.loopbackPorts, port) {
		return true
	}
	return slices.Contains(st.names, net.JoinHostPort(host, strconv.Itoa(int(port))))
}

// CheckPublicURL checks a URL the API is reached by (HOOKSTREAM_PUBLIC_URL):
// absolute http or https, with a host.
func CheckPublicURL(raw string) error {
	_, err := parsePublicURL(raw)
	return err
}

func parsePublicURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	switch {
	case err != nil:
		return nil, errors.New("not a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, errors.New("want an http or https URL, e.g. https://hooks.example.com")
	case u.Hostname() == "":
		return nil, errors.New("no host")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, errors.New("port out of range")
		}
	}
	return u, nil
}

// portOf returns the URL's port, or its scheme's.
func portOf(u *url.URL) uint16 {
	if p, err := strconv.ParseUint(u.Port(), 10, 16); err == nil {
		return uint16(p)
	}
	if u.Scheme == "https" {
		return 443
	}
	return 80
}

func canonicalHost(h string) string {
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

func isLocalhost(host string) bool {
	return host == "localhost" || strings.HasSuffix(host, ".localhost")
}

// localAddrs returns the addresses of the host's interfaces (none when
// they cannot be read).
func localAddrs() []netip.Addr {
	ifs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, a := range ifs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Addr())
		}
	}
	return out
}
