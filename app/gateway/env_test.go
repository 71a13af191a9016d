package gateway

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/dns/dnsmessage"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestFromEnv(t *testing.T) {
	c, err := FromEnv(envOf(map[string]string{
		"GATEWAY_STAMPS":        `[{"id":"a","priority":1,"weight":2,"sip":"127.0.0.1:5070","imap":"127.0.0.1:1143","health":"http://127.0.0.1:8080/health/stamp"}]`,
		"GATEWAY_POLL_INTERVAL": "250ms",
	}))
	require.NoError(t, err)
	assert.Equal(t, ":5060", c.Gateway.SIPAddr)
	assert.Equal(t, ":143", c.Gateway.IMAPAddr)
	assert.Equal(t, 250*time.Millisecond, c.Gateway.Pool.Interval)
	st, _ := c.Gateway.Source.Stamps(context.Background())
	assert.Equal(t, []Stamp{{ID: "a", Priority: 1, Weight: 2, SIP: "127.0.0.1:5070", IMAP: "127.0.0.1:1143", Health: "http://127.0.0.1:8080/health/stamp"}}, st)

	c, err = FromEnv(envOf(map[string]string{"GATEWAY_SRV_DOMAIN": "stamps.example.net", "GATEWAY_IMAP_ADDR": "off"}))
	require.NoError(t, err)
	assert.Equal(t, SRV{Domain: "stamps.example.net", IMAPPort: 143, HTTPPort: 443}, c.Gateway.Source)
	assert.Empty(t, c.Gateway.IMAPAddr)

	for key, env := range map[string]map[string]string{
		"GATEWAY_STAMPS":           {},
		"GATEWAY_POLL_TIMEOUT":     {"GATEWAY_SRV_DOMAIN": "x", "GATEWAY_POLL_TIMEOUT": "soon"},
		"GATEWAY_FAILURES_TO_DOWN": {"GATEWAY_SRV_DOMAIN": "x", "GATEWAY_FAILURES_TO_DOWN": "0"},
		"GATEWAY_SIP_ADDR":         {"GATEWAY_SRV_DOMAIN": "x", "GATEWAY_SIP_ADDR": "off", "GATEWAY_IMAP_ADDR": "off"},
		"GATEWAY_STAMPS ":          {"GATEWAY_STAMPS": `[{"id":"a","health":"h","sip":"s","imap":"i","extra":1}]`},
		"GATEWAY_STAMPS  ":         {"GATEWAY_STAMPS": `[{"id":"a","sip":"s","imap":"i"}]`},
		"GATEWAY_STAMPS   ":        {"GATEWAY_STAMPS": `[{"id":"a","health":"h","sip":"s","imap":"i"}]`, "GATEWAY_SRV_DOMAIN": "x"},
	} {
		_, err := FromEnv(envOf(env))
		require.Error(t, err, key)
		assert.Contains(t, err.Error(), strings.TrimSpace(key)+":", "error names the variable")
	}
}

// serveSRV answers SRV queries for _sip._udp.<domain> from a real DNS server on loopback UDP.
func serveSRV(t *testing.T, domain string, recs []dnsmessage.SRVResource) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true})
			b.EnableCompression()
			_ = b.StartQuestions()
			_ = b.Question(q)
			_ = b.StartAnswers()
			if q.Type == dnsmessage.TypeSRV && strings.EqualFold(q.Name.String(), "_sip._udp."+domain+".") {
				for _, r := range recs {
					_ = b.SRVResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 30}, r)
				}
			}
			out, err := b.Finish()
			if err == nil {
				_, _ = pc.WriteTo(out, from)
			}
		}
	}()
	return pc.LocalAddr().String()
}

func TestSRVSource(t *testing.T) {
	addr := serveSRV(t, "stamps.test", []dnsmessage.SRVResource{
		{Priority: 10, Weight: 50, Port: 5060, Target: dnsmessage.MustNewName("eastus2-z1.stamps.test.")},
		{Priority: 20, Weight: 50, Port: 5062, Target: dnsmessage.MustNewName("centralus-z1.stamps.test.")},
	})
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", addr)
	}}
	src := SRV{Domain: "stamps.test", IMAPPort: 143, HTTPPort: 443, Resolver: r}
	got, err := src.Stamps(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []Stamp{
		{ID: "eastus2-z1.stamps.test", Priority: 10, Weight: 50, SIP: "eastus2-z1.stamps.test:5060", IMAP: "eastus2-z1.stamps.test:143", Health: "https://eastus2-z1.stamps.test:443/health/stamp"},
		{ID: "centralus-z1.stamps.test", Priority: 20, Weight: 50, SIP: "centralus-z1.stamps.test:5062", IMAP: "centralus-z1.stamps.test:143", Health: "https://centralus-z1.stamps.test:443/health/stamp"},
	}, got)

	_, err = SRV{Domain: "missing.test", Resolver: r}.Stamps(context.Background())
	assert.Error(t, err)
}
