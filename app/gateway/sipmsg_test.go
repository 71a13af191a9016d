package gateway

import (
	"bufio"
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const sampleInvite = "INVITE sip:1001@gw SIP/2.0\r\n" +
	"v: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-1;rport, SIP/2.0/TCP 10.0.0.2;branch=z9hG4bK-0\r\n" +
	"Route: <sip:gw;lr;vmgw>, <sip:next.example;lr>\r\n" +
	"f: <sip:a@b>;tag=1\r\nt: <sip:1001@gw>\r\ni: abc\r\nCSeq: 1 INVITE\r\n" +
	"Subject: folded\r\n  line\r\nl: 4\r\n\r\nbody"

func TestParseAndRebuild(t *testing.T) {
	m, err := parseDatagram([]byte(sampleInvite))
	require.NoError(t, err)
	assert.Equal(t, "INVITE", m.method)
	assert.Equal(t, "abc", m.get("Call-ID"))
	assert.Equal(t, "folded line", m.get("Subject"))
	assert.Equal(t, []byte("body"), m.body)
	assert.False(t, m.toTag())
	var vias, routes []string
	for _, h := range m.hdrs {
		switch h.name {
		case "Via":
			vias = append(vias, h.value)
		case "Route":
			routes = append(routes, h.value)
		}
	}
	assert.Len(t, vias, 2, "comma-separated Vias are split")
	assert.Equal(t, []string{"<sip:gw;lr;vmgw>", "<sip:next.example;lr>"}, routes)
	v, err := parseVia(vias[1])
	require.NoError(t, err)
	assert.Equal(t, "10.0.0.2:5060", v.replyTo())
	v.setParam("received", "192.0.2.1")
	v.setParam("rport", "4000")
	assert.Equal(t, "192.0.2.1:4000", v.replyTo())
	u, err := parseURI(routes[0])
	require.NoError(t, err)
	assert.Equal(t, "gw:5060", u.addr)
	_, ours := u.params["vmgw"]
	assert.True(t, ours)

	// The rebuilt message parses again, from a stream too.
	again, err := readStream(bufio.NewReader(bytes.NewReader(append([]byte("\r\n\r\n"), m.bytes()...))))
	require.NoError(t, err)
	assert.Equal(t, m.hdrs, again.hdrs)
	assert.Equal(t, m.body, again.body)
}

func TestParseRejects(t *testing.T) {
	for name, raw := range map[string]string{
		"no headers end": "OPTIONS sip:a SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n",
		"no call-id":     "OPTIONS sip:a SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nCSeq: 1 OPTIONS\r\n\r\n",
		"bad version":    "OPTIONS sip:a HTTP/1.1\r\nVia: SIP/2.0/UDP h\r\ni: x\r\nCSeq: 1 OPTIONS\r\n\r\n",
		"bad status":     "SIP/2.0 99 Nope\r\nVia: SIP/2.0/UDP h\r\ni: x\r\nCSeq: 1 OPTIONS\r\n\r\n",
		"long body":      "OPTIONS sip:a SIP/2.0\r\nVia: SIP/2.0/UDP h\r\ni: x\r\nCSeq: 1 OPTIONS\r\nl: 10\r\n\r\nab",
		"header line":    "OPTIONS sip:a SIP/2.0\r\nnocolon\r\n\r\n",
	} {
		_, err := parseDatagram([]byte(raw))
		assert.ErrorIs(t, err, errMalformed, name)
	}
}

func FuzzParseDatagram(f *testing.F) {
	f.Add([]byte(sampleInvite))
	f.Add([]byte("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK-vmgw-1\r\ni: x\r\nCSeq: 1 BYE\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseDatagram(b)
		if err != nil {
			return
		}
		// Whatever parses must survive the proxy's header edits and parse again.
		if i := m.top("Via"); i >= 0 {
			if v, err := parseVia(m.hdrs[i].value); err == nil {
				v.setParam("rport", "1")
				m.hdrs[i].value = v.String()
				_ = v.replyTo()
			}
		}
		if i := m.top("Route"); i >= 0 {
			_, _ = parseURI(m.hdrs[i].value)
		}
		_ = response(m, 400, "Bad Request").bytes()
		if _, err := parseDatagram(m.bytes()); err != nil {
			t.Fatalf("rebuilt message does not parse: %v\n%q", err, m.bytes())
		}
	})
}
