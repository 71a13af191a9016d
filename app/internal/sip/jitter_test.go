package sip

import (
	"bytes"
	"testing"

	"github.com/pion/rtp"
	"github.com/stretchr/testify/assert"
)

func pkt(ssrc uint32, seq uint16, ts uint32, fill byte, n int) *rtp.Packet {
	return &rtp.Packet{Header: rtp.Header{SSRC: ssrc, SequenceNumber: seq, Timestamp: ts, PayloadType: 8},
		Payload: bytes.Repeat([]byte{fill}, n)}
}

func collect(j *jitter, pkts ...*rtp.Packet) []byte {
	var out []byte
	sink := func(b []byte) { out = append(out, b...) }
	for _, p := range pkts {
		j.push(p, sink)
	}
	j.flush(sink)
	return out
}

func TestJitterReordersAndDropsDuplicates(t *testing.T) {
	j := newJitter(4, 0xD5)
	got := collect(j, pkt(1, 10, 0, 'a', 4), pkt(1, 12, 8, 'c', 4), pkt(1, 11, 4, 'b', 4), pkt(1, 11, 4, 'b', 4), pkt(1, 13, 12, 'd', 4))
	assert.Equal(t, "aaaabbbbccccdddd", string(got))
}

func TestJitterFillsLossWithSilence(t *testing.T) {
	j := newJitter(2, 0xD5)
	// 11 and 12 never arrive; once 3 later packets are held the gap is given up.
	got := collect(j, pkt(1, 10, 0, 'a', 4), pkt(1, 13, 12, 'd', 4), pkt(1, 14, 16, 'e', 4), pkt(1, 15, 20, 'f', 4))
	assert.Equal(t, "aaaa"+string(bytes.Repeat([]byte{0xD5}, 8))+"ddddeeeeffff", string(got))
	assert.Len(t, got, 24, "recording keeps real time")
}

func TestJitterLatePacketAfterGiveUpIsDropped(t *testing.T) {
	j := newJitter(1, 0xD5)
	got := collect(j, pkt(1, 1, 0, 'a', 2), pkt(1, 3, 4, 'c', 2), pkt(1, 4, 6, 'd', 2), pkt(1, 2, 2, 'b', 2))
	assert.Equal(t, "aa"+string([]byte{0xD5, 0xD5})+"ccdd", string(got))
}

func TestJitterSSRCChangeStartsNewStream(t *testing.T) {
	j := newJitter(4, 0xD5)
	got := collect(j, pkt(1, 100, 1000, 'a', 2), pkt(1, 101, 1002, 'b', 2), pkt(2, 7, 99999, 'x', 2), pkt(2, 8, 100001, 'y', 2))
	assert.Equal(t, "aabbxxyy", string(got), "no silence invented across a stream change")
}

func TestJitterSequenceWrap(t *testing.T) {
	j := newJitter(4, 0xD5)
	got := collect(j, pkt(1, 65534, 0, 'a', 1), pkt(1, 0, 2, 'c', 1), pkt(1, 65535, 1, 'b', 1), pkt(1, 1, 3, 'd', 1))
	assert.Equal(t, "abcd", string(got))
}

func dtmfPkt(ssrc uint32, ts uint32, ev byte, end bool, marker bool) *rtp.Packet {
	b1 := byte(10)
	if end {
		b1 |= 0x80
	}
	return &rtp.Packet{Header: rtp.Header{SSRC: ssrc, Timestamp: ts, Marker: marker, PayloadType: 101}, Payload: []byte{ev, b1, 0, 160}}
}

func TestDTMFDetector(t *testing.T) {
	var d dtmfDetector
	var keys []rune
	feed := func(ps ...*rtp.Packet) {
		for _, p := range ps {
			if k, ok := d.feed(p); ok {
				keys = append(keys, k)
			}
		}
	}
	press := func(ts uint32, ev byte) []*rtp.Packet {
		return []*rtp.Packet{dtmfPkt(1, ts, ev, false, true), dtmfPkt(1, ts, ev, false, false),
			dtmfPkt(1, ts, ev, true, false), dtmfPkt(1, ts, ev, true, false), dtmfPkt(1, ts, ev, true, false)}
	}
	feed(press(100, 1)...)
	feed(press(900, 2)...)
	feed(press(900, 2)...) // the same recorded press replayed (sipp pcap) counts again: marker set
	feed(press(1700, 11)...)
	feed(dtmfPkt(1, 2500, 10, true, false)) // start packets lost: the end still counts once
	feed(dtmfPkt(1, 2500, 10, true, false))
	feed(&rtp.Packet{Header: rtp.Header{SSRC: 1, Timestamp: 3000}, Payload: []byte{16, 0x80, 0, 1}}) // flash
	feed(&rtp.Packet{Header: rtp.Header{SSRC: 1, Timestamp: 3000}, Payload: []byte{1}})              // short
	assert.Equal(t, "122#*", string(keys))
}
