package sip

import "github.com/pion/rtp"

// jitter puts received audio packets back in order. It holds up to depth packets while it
// waits for a missing one, then gives the gap up as lost and fills it with silence (by RTP
// timestamp, so a recording keeps its real length). A new SSRC or a wild sequence jump starts
// a new stream: whatever is held is flushed first and no silence is invented across the break.
type jitter struct {
	depth   int
	silence byte
	maxGap  uint32 // longest gap (samples) filled with silence; longer gaps are talk-spurt pauses

	started bool
	ssrc    uint32
	next    uint16
	held    map[uint16]*rtp.Packet

	haveLast bool
	lastEnd  uint32 // timestamp just after the last emitted payload
}

func newJitter(depth int, silence byte) *jitter {
	return &jitter{depth: depth, silence: silence, maxGap: 8000 * 2, held: make(map[uint16]*rtp.Packet)}
}

// push takes one packet and calls out with audio that is now in order.
func (j *jitter) push(p *rtp.Packet, out func([]byte)) {
	if !j.started || p.SSRC != j.ssrc {
		j.flush(out)
		j.started, j.ssrc, j.next, j.haveLast = true, p.SSRC, p.SequenceNumber, false
	}
	d := int16(p.SequenceNumber - j.next)
	if d < -100 || d > 1000 {
		// The sender restarted its sequence without changing SSRC.
		j.flush(out)
		j.next, j.haveLast = p.SequenceNumber, false
		d = 0
	}
	if d < 0 {
		return // late: its slot was already given up, or a duplicate
	}
	if _, dup := j.held[p.SequenceNumber]; dup {
		return
	}
	j.held[p.SequenceNumber] = p
	j.drain(out, false)
}

// flush emits everything held, in order, skipping the holes.
func (j *jitter) flush(out func([]byte)) { j.drain(out, true) }

func (j *jitter) drain(out func([]byte), all bool) {
	for len(j.held) > 0 {
		p, ok := j.held[j.next]
		if !ok {
			if !all && len(j.held) <= j.depth {
				return
			}
			// Give up on the missing packet: jump to the earliest one held.
			best, bestD := uint16(0), int16(0x7fff)
			for seq := range j.held {
				if d := int16(seq - j.next); d < bestD {
					best, bestD = seq, d
				}
			}
			j.next = best
			p = j.held[best]
		}
		delete(j.held, j.next)
		j.next++
		j.emit(p, out)
	}
}

func (j *jitter) emit(p *rtp.Packet, out func([]byte)) {
	if len(p.Payload) == 0 {
		return
	}
	if j.haveLast {
		if gap := p.Timestamp - j.lastEnd; gap > 0 && gap <= j.maxGap {
			fill := make([]byte, gap)
			for i := range fill {
				fill[i] = j.silence
			}
			out(fill)
		}
	}
	out(p.Payload)
	j.haveLast = true
	j.lastEnd = p.Timestamp + uint32(len(p.Payload))
}

// dtmfDetector turns RFC 4733 telephone-event packets into key presses. A press is reported
// once, on its first packet, even though senders repeat the start and send the end three times.
type dtmfDetector struct {
	have  bool
	ssrc  uint32
	ts    uint32
	event uint8
	ended bool
}

const dtmfKeys = "0123456789*#ABCD"

// feed returns the key of a new press, if this packet starts one.
func (d *dtmfDetector) feed(p *rtp.Packet) (rune, bool) {
	if len(p.Payload) < 4 || p.Payload[0] >= 16 {
		return 0, false // flash and other events are not keys
	}
	ev, end := p.Payload[0], p.Payload[1]&0x80 != 0
	same := d.have && d.ssrc == p.SSRC && d.ts == p.Timestamp && d.event == ev
	switch {
	case same && !d.ended:
		d.ended = end
		return 0, false
	case same && d.ended && !p.Marker:
		return 0, false // a repeated end packet, or a straggler of a finished press
	}
	// A new event: different timestamp or key, or the same key pressed again (marker set).
	d.have, d.ssrc, d.ts, d.event, d.ended = true, p.SSRC, p.Timestamp, ev, end
	return rune(dtmfKeys[ev]), true
}
