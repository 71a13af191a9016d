package sip

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The TestAttack tests reproduce attacks from a hostile network, bounded in count and time and
// on loopback only. Each logs the figure it measures.

// A stranger who sends RTP to a call's port before (or while) the signalled peer does must
// neither receive the call's audio nor inject keys: an injected 7 would delete a message.
func TestAttackRTPStrangerCannotHijackOrInjectKeys(t *testing.T) {
	m, phone := mediaPair(t) // the peer signalled 127.0.0.1:<phone>
	stranger, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
	require.NoError(t, err)
	defer stranger.Close()
	send := func(p rtp.Packet) {
		p.Version = 2
		b, err := p.Marshal()
		require.NoError(t, err)
		_, err = stranger.WriteTo(b, m.conn.LocalAddr())
		require.NoError(t, err)
	}
	// Audio first (to be latched as the peer), then an RFC 4733 "7" with its end packets.
	for i := 0; i < 5; i++ {
		send(rtp.Packet{Header: rtp.Header{PayloadType: 8, SequenceNumber: uint16(i), Timestamp: uint32(160 * i), SSRC: 66}, Payload: make([]byte, 160)})
	}
	for i := 0; i < 3; i++ {
		send(rtp.Packet{Header: rtp.Header{PayloadType: 101, SequenceNumber: uint16(10 + i), Timestamp: 2000, SSRC: 66, Marker: i == 0}, Payload: []byte{7, 0x8a, 0, 160}})
	}
	k, injected := m.key(context.Background(), 300*time.Millisecond)

	// The server plays a prompt: where does it go?
	_, _, err = m.play(context.Background(), make([]byte, 5*packetSamples), false)
	require.NoError(t, err)
	heard := 0
	buf := make([]byte, 1500)
	for {
		require.NoError(t, stranger.SetReadDeadline(time.Now().Add(200*time.Millisecond)))
		if _, err := stranger.Read(buf); err != nil {
			break
		}
		heard++
	}
	t.Logf("stranger: key injected=%v (%q), RTP packets received=%d of 5, dropped=%d", injected, k, heard, m.strays())
	assert.False(t, injected, "a key from a stranger reached the menu")
	assert.Zero(t, heard, "the stranger received the call's audio")
	assert.Equal(t, 8, m.strays())
	// The signalled peer is still heard and answered.
	require.NoError(t, phone.SetReadDeadline(time.Now().Add(time.Second)))
	_, err = phone.Read(buf)
	assert.NoError(t, err, "the peer receives the audio")
}

// Consecutive calls must not get predictable RTP ports (the next port is where a stranger
// aims a spray).
func TestAttackRTPPortsAreNotPredictable(t *testing.T) {
	base := 30000 + freePort(t)%10000
	base -= base % 2
	pool := newPortPool("127.0.0.1", base, base+2000)
	prev, next := 0, 0
	const calls = 50
	for i := 0; i < calls; i++ {
		c, err := pool.listen()
		require.NoError(t, err)
		p := c.LocalAddr().(*net.UDPAddr).Port
		require.NoError(t, c.Close())
		if i > 0 && p == prev+2 {
			next++
		}
		prev = p
	}
	t.Logf("%d of %d calls got the port after the previous call's", next, calls-1)
	assert.Less(t, next, 5)
}
