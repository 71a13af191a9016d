package sip

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/audio"
)

// mediaPair is a call's media on one loopback socket and a "phone" socket facing it.
func mediaPair(t *testing.T) (*media, *net.UDPConn) {
	t.Helper()
	lo := net.IPv4(127, 0, 0, 1)
	phone, err := net.ListenUDP("udp", &net.UDPAddr{IP: lo})
	require.NoError(t, err)
	t.Cleanup(func() { phone.Close() })
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: lo})
	require.NoError(t, err)
	m := newMedia(conn, offer{Remote: phone.LocalAddr().(*net.UDPAddr), Codec: pcma, DTMFPT: 101, HasDTMF: true}, 300, slog.New(slog.DiscardHandler))
	go m.receive()
	t.Cleanup(m.close)
	return m, phone
}

func readRTP(t *testing.T, c *net.UDPConn) *rtp.Packet {
	t.Helper()
	buf := make([]byte, 1500)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(2*time.Second)))
	n, err := c.Read(buf)
	require.NoError(t, err)
	var p rtp.Packet
	require.NoError(t, p.Unmarshal(buf[:n]))
	return &p
}

func TestMediaPlayPacketsAndKeepaliveTimestamps(t *testing.T) {
	m, phone := mediaPair(t)
	start := time.Now()
	_, _, err := m.play(context.Background(), make([]byte, 3*packetSamples), false)
	require.NoError(t, err)
	var ps []*rtp.Packet
	for i := 0; i < 3; i++ {
		ps = append(ps, readRTP(t, phone))
	}
	assert.True(t, ps[0].Marker)
	for i := 1; i < 3; i++ {
		assert.False(t, ps[i].Marker)
		assert.Equal(t, ps[i-1].SequenceNumber+1, ps[i].SequenceNumber)
		assert.Equal(t, ps[i-1].Timestamp+packetSamples, ps[i].Timestamp, "contiguous within a prompt")
		assert.Equal(t, uint8(8), ps[i].PayloadType)
	}
	time.Sleep(300 * time.Millisecond)
	m.keepalive()
	elapsed := time.Since(start)
	k := readRTP(t, phone)
	assert.True(t, k.Marker)
	assert.Len(t, k.Payload, packetSamples)
	assert.Equal(t, byte(0xD5), k.Payload[0], "A-law silence")
	// The timestamp follows the wall clock across the pause: at least the pause, at most all
	// the time that passed.
	adv := int(k.Timestamp - ps[2].Timestamp)
	assert.GreaterOrEqual(t, adv, 8*300)
	assert.LessOrEqual(t, adv, int(elapsed.Milliseconds())*8+packetSamples)
}

func TestMediaReceivesKeysAndRecordsInOrder(t *testing.T) {
	m, phone := mediaPair(t)
	send := func(p rtp.Packet) {
		p.Version = 2
		b, err := p.Marshal()
		require.NoError(t, err)
		_, err = phone.WriteTo(b, m.conn.LocalAddr())
		require.NoError(t, err)
	}
	// Audio before recording starts is not kept.
	send(rtp.Packet{Header: rtp.Header{PayloadType: 8, SequenceNumber: 1, Timestamp: 0, SSRC: 9}, Payload: []byte{1, 1}})
	require.Eventually(t, func() bool { n, _ := m.counts(); return n == 1 }, time.Second, 5*time.Millisecond)
	m.startRecording()
	send(rtp.Packet{Header: rtp.Header{PayloadType: 8, SequenceNumber: 3, Timestamp: 4, SSRC: 9}, Payload: []byte{3, 3}})
	send(rtp.Packet{Header: rtp.Header{PayloadType: 8, SequenceNumber: 2, Timestamp: 2, SSRC: 9}, Payload: []byte{2, 2}})
	send(rtp.Packet{Header: rtp.Header{PayloadType: 101, Timestamp: 50, SSRC: 9, Marker: true}, Payload: []byte{5, 10, 0, 160}})
	_, err := phone.WriteTo([]byte("not rtp"), m.conn.LocalAddr())
	require.NoError(t, err)
	k, ok := m.key(context.Background(), 2*time.Second)
	require.True(t, ok)
	assert.Equal(t, '5', k)
	require.Eventually(t, func() bool { n, _ := m.counts(); return n == 3 }, time.Second, 5*time.Millisecond)
	rec, _ := m.stopRecording()
	assert.Equal(t, []byte{2, 2, 3, 3}, rec, "reordered audio comes out in order, the jitter buffer flushed")
	_, _, idle := m.status()
	assert.Less(t, idle, time.Second, "media seen")
}

func TestLevelMatchesAudioPackage(t *testing.T) {
	for _, enc := range []audio.Encoding{audio.ALaw, audio.ULaw} {
		b := audio.FromPCM16(enc, audio.Tone(440, 20, 9000))
		assert.InDelta(t, audio.Level(audio.WAV{Encoding: enc, Data: b}.ToPCM16()), level(b, enc), 0.001)
	}
	assert.Zero(t, level(nil, audio.ALaw))
}

// A recording that ends because watchMedia ended the call on lost RTP says so, even when that
// goroutine noticed before the recording's own check; a call ended otherwise is a hang-up.
func TestRecordReasonWhenTheCallEndsFirst(t *testing.T) {
	for _, tc := range []struct {
		cause error
		want  stopReason
	}{{errNoMedia, stopNoMedia}, {nil, stopHangup}} {
		m, _ := mediaPair(t)
		ctx, end := context.WithCancelCause(context.Background())
		end(tc.cause)
		c := &call{s: &Server{cfg: Config{RTPTimeout: time.Hour, SilenceTimeout: time.Hour}}, ctx: ctx, m: m,
			log: slog.New(slog.DiscardHandler)}
		_, reason := c.record(time.Minute)
		assert.Equal(t, tc.want, reason, "cause %v", tc.cause)
	}
}
