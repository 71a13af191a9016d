package imap

import (
	"net"
	"net/netip"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
)

// proxyHeaderTimeout bounds the wait for a trusted balancer's PROXY header; HAProxy sends it
// with the connection, so only a broken balancer waits this long.
const proxyHeaderTimeout = 5 * time.Second

// proxyListener reads a PROXY protocol header (v1 or v2) on connections from the balancers
// in from, and requires it; other connections are left alone (SKIP), so what they send is
// IMAP, and a PROXY line from them is a bad command, never a new identity.
func proxyListener(ln net.Listener, from []netip.Prefix) net.Listener {
	return &proxyproto.Listener{
		Listener:          ln,
		ReadHeaderTimeout: proxyHeaderTimeout,
		ConnPolicy: func(o proxyproto.ConnPolicyOptions) (proxyproto.Policy, error) {
			if ap, err := netip.ParseAddrPort(o.Upstream.String()); err == nil {
				for _, p := range from {
					if p.Contains(ap.Addr().Unmap()) {
						return proxyproto.REQUIRE, nil
					}
				}
			}
			return proxyproto.SKIP, nil
		},
	}
}
