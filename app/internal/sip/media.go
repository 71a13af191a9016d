package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/pion/rtp"

	"github.com/voicemail-platform/voicemail/app/internal/audio"
)

const (
	packetSamples = 160 // 20 ms of 8 kHz G.711
	packetTime    = 20 * time.Millisecond
)

// media is one call's RTP session: a UDP socket, a receiver that orders audio and detects
// RFC 4733 key presses, and a paced sender for prompts.
type media struct {
	conn    *net.UDPConn
	codec   codec
	dtmfPT  uint8
	hasDTMF bool
	log     *slog.Logger
	voice   float64 // RMS level above which a packet counts as speech

	mu        sync.Mutex
	remote    *net.UDPAddr // the signalled media address, then the latched source
	latched   bool
	stray     int // packets dropped because they came from anyone but the peer
	jit       *jitter
	recording bool
	rec       []byte
	lastVoice time.Time
	lastRx    time.Time
	packets   int
	gotDTMF   bool

	packetsBefore int // audio packets that arrived before the beep ended (not recorded)
	voiceEnd      int // length of the recording up to the last packet with speech

	digits chan rune
	done   chan struct{}

	// Sender state; only the call's goroutine sends.
	ssrc     uint32
	seq      uint16
	ts       uint32
	lastSend time.Time
}

func newMedia(conn *net.UDPConn, o offer, voiceLevel float64, log *slog.Logger) *media {
	now := time.Now()
	return &media{
		conn: conn, codec: o.Codec, dtmfPT: o.DTMFPT, hasDTMF: o.HasDTMF, log: log, voice: voiceLevel,
		remote: o.Remote, jit: newJitter(3, o.Codec.silence()),
		lastVoice: now, lastRx: now,
		digits: make(chan rune, 32), done: make(chan struct{}),
		ssrc: rand.Uint32(), seq: uint16(rand.Uint32()), ts: rand.Uint32(),
	}
}

// receive runs until the socket is closed. Anything that is not RTP we understand is dropped.
func (m *media) receive() {
	defer close(m.done)
	buf := make([]byte, 1500)
	var det dtmfDetector
	for {
		n, src, err := m.conn.ReadFromUDP(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				m.log.Debug("rtp read", "error", err)
			}
			return
		}
		var p rtp.Packet
		if err := p.Unmarshal(append([]byte(nil), buf[:n]...)); err != nil || p.Version != 2 {
			continue
		}
		m.mu.Lock()
		if !m.fromPeerLocked(src) {
			m.stray++
			first := m.stray == 1
			m.mu.Unlock()
			if first { // one line per call, not per packet: a spray must not flood the log
				m.log.Info("rtp from a stranger dropped", "source", src.String())
			}
			continue
		}
		m.lastRx = time.Now()
		m.mu.Unlock()
		switch {
		case m.hasDTMF && p.PayloadType == m.dtmfPT:
			m.mu.Lock()
			m.gotDTMF = true
			m.mu.Unlock()
			if k, ok := det.feed(&p); ok {
				select {
				case m.digits <- k:
				default: // a caller mashing keys faster than the menu reads them
				}
			}
		case p.PayloadType == m.codec.PT:
			m.mu.Lock()
			if m.packets > 0 && p.SSRC != m.jit.ssrc {
				m.log.Info("rtp source changed", "ssrc", p.SSRC, "previous", m.jit.ssrc)
			}
			m.packets++
			m.jit.push(&p, m.sinkLocked)
			m.mu.Unlock()
		}
	}
}

// fromPeerLocked is the strict-source rule (Asterisk strictrtp, rtpengine strict-source): media
// is taken only from the address the peer signalled in SDP. The first packet from that IP latches
// its port (symmetric RTP: a NAT or SBC may send from another port than it signalled); from then
// on only that exact address is heard. Anyone else, however early, is dropped, so a stranger
// spraying the port range can neither hear a call (we never answer them) nor inject keys.
func (m *media) fromPeerLocked(src *net.UDPAddr) bool {
	if m.latched {
		return src.Port == m.remote.Port && src.IP.Equal(m.remote.IP)
	}
	if m.remote == nil || !src.IP.Equal(m.remote.IP) {
		return false
	}
	m.remote, m.latched = src, true
	return true
}

// sinkLocked takes in-order audio from the jitter buffer; m.mu is held.
func (m *media) sinkLocked(b []byte) {
	if !m.recording {
		return
	}
	m.rec = append(m.rec, b...)
	if level(b, m.codec.Encoding) >= m.voice {
		m.lastVoice = time.Now()
		m.voiceEnd = len(m.rec)
	}
}

func (m *media) startRecording() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.jit.flush(func([]byte) {}) // audio from before the beep is not part of the message
	m.recording, m.rec, m.lastVoice, m.voiceEnd = true, nil, time.Now(), 0
	m.packetsBefore = m.packets
}

// stopRecording returns what was recorded, including what the jitter buffer still held, and
// how much of it ends with the last speech.
func (m *media) stopRecording() (rec []byte, voiceEnd int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.jit.flush(m.sinkLocked)
	m.recording = false
	out := m.rec
	m.rec = nil
	return out, m.voiceEnd
}

// status is what the recorder polls. sinceRx is zero until the first packet: the RTP timeout
// detects media that stopped, while a caller who never sent any is caught by the silence
// timeout (recording) or the digit timeouts (menus).
func (m *media) status() (recorded int, sinceVoice, sinceRx time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	if m.packets > 0 || m.gotDTMF {
		sinceRx = now.Sub(m.lastRx)
	}
	return len(m.rec), now.Sub(m.lastVoice), sinceRx
}

// play sends samples paced at 20 ms per packet. With interrupt set it stops at the first key
// and returns it; keys pressed otherwise stay queued for the next read.
func (m *media) play(ctx context.Context, samples []byte, interrupt bool) (rune, bool, error) {
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	buf := make([]byte, 12+packetSamples)
	for i := 0; i*packetSamples < len(samples); i++ {
		if interrupt {
			select {
			case k := <-m.digits:
				return k, true, nil
			default:
			}
		}
		chunk := samples[i*packetSamples : min((i+1)*packetSamples, len(samples))]
		if err := m.send(buf, chunk, i == 0); err != nil {
			return 0, false, err
		}
		// Pace against the start time so scheduling delays do not accumulate.
		timer.Reset(time.Until(start.Add(time.Duration(i+1) * packetTime)))
		select {
		case <-ctx.Done():
			return 0, false, ctx.Err()
		case <-timer.C:
		}
	}
	return 0, false, nil
}

// send writes one RTP packet. A packet that starts a talk spurt (marker) gets a timestamp that
// has advanced with the wall clock since the last one, as RFC 3550 asks after a pause.
func (m *media) send(buf, payload []byte, marker bool) error {
	now := time.Now()
	if marker && !m.lastSend.IsZero() {
		if gap := now.Sub(m.lastSend) - packetTime; gap > 0 {
			m.ts += uint32(gap.Milliseconds() * audio.SampleRate / 1000)
		}
	}
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: m.codec.PT, SequenceNumber: m.seq,
		Timestamp: m.ts, SSRC: m.ssrc, Marker: marker}, Payload: payload}
	m.seq++
	m.ts += uint32(len(payload))
	m.lastSend = now
	n, err := p.MarshalTo(buf[:cap(buf)])
	if err != nil {
		return fmt.Errorf("marshal rtp: %w", err)
	}
	m.mu.Lock()
	dst := m.remote
	m.mu.Unlock()
	if _, err := m.conn.WriteToUDP(buf[:n], dst); err != nil && !errors.Is(err, net.ErrClosed) {
		m.log.Debug("rtp write", "error", err)
	}
	return nil
}

// keepalive sends one packet of silence while we only listen (recording), so NAT bindings and
// SBC media-inactivity timers on the caller's side see media from us.
func (m *media) keepalive() {
	silence := make([]byte, packetSamples)
	for i := range silence {
		silence[i] = m.codec.silence()
	}
	_ = m.send(make([]byte, 12+packetSamples), silence, true)
}

// key waits up to d for a key press.
func (m *media) key(ctx context.Context, d time.Duration) (rune, bool) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case k := <-m.digits:
		return k, true
	case <-ctx.Done():
	case <-t.C:
	}
	return 0, false
}

// pushKey queues a key that arrived outside RTP (SIP INFO).
func (m *media) pushKey(k rune) {
	m.mu.Lock()
	m.gotDTMF = true
	m.lastRx = time.Now()
	m.mu.Unlock()
	select {
	case m.digits <- k:
	default:
	}
}

// drainKeys forgets queued key presses (e.g. typed ahead during a prompt that cannot be skipped).
func (m *media) drainKeys() {
	for {
		select {
		case <-m.digits:
		default:
			return
		}
	}
}

func (m *media) close() {
	_ = m.conn.Close()
	<-m.done
}

// counts reports audio packets received in all and before recording started, for the log.
func (m *media) counts() (total, before int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.packets, m.packetsBefore
}

// strays is how many packets from strangers were dropped.
func (m *media) strays() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stray
}

// level is the RMS of G.711 samples, decoded in place: it runs for every received packet.
func level(b []byte, enc audio.Encoding) float64 {
	if len(b) == 0 {
		return 0
	}
	decode := audio.DecodeALaw
	if enc == audio.ULaw {
		decode = audio.DecodeULaw
	}
	var sum float64
	for _, c := range b {
		v := float64(decode(c))
		sum += v * v
	}
	return math.Sqrt(sum / float64(len(b)))
}
