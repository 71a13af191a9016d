package sip

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// pcapRecord is one captured packet: its pcap record header and the frame.
type pcapRecord struct {
	hdr   [16]byte
	frame []byte
}

// rtpOffset is where the RTP header starts in an Ethernet/IPv4/UDP frame.
func rtpOffset(frame []byte) int { return 14 + int(frame[14]&0x0f)*4 + 8 }

// impairedPcap rewrites sipp's g711a.pcap into a lossy, reordered stream whose SSRC (and
// sequence and timestamp bases) change halfway, keeping the capture times so sipp paces it
// the same. It returns the file and how many payload bytes it still carries.
func impairedPcap(t *testing.T, drop map[int]bool, swap map[int]bool, ssrcChangeAt int) (string, int) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(sippShare, "g711a.pcap"))
	require.NoError(t, err)
	require.Equal(t, uint32(0xa1b2c3d4), binary.LittleEndian.Uint32(raw[:4]), "little-endian pcap expected")
	var recs []pcapRecord
	for off := 24; off+16 <= len(raw); {
		var r pcapRecord
		copy(r.hdr[:], raw[off:off+16])
		n := int(binary.LittleEndian.Uint32(raw[off+8 : off+12]))
		r.frame = append([]byte(nil), raw[off+16:off+16+n]...)
		recs = append(recs, r)
		off += 16 + n
	}
	for i := range recs {
		if i < ssrcChangeAt {
			continue
		}
		rtp := recs[i].frame[rtpOffset(recs[i].frame):]
		binary.BigEndian.PutUint32(rtp[8:12], 0x5eed5eed)
		binary.BigEndian.PutUint16(rtp[2:4], binary.BigEndian.Uint16(rtp[2:4])+20000)
		binary.BigEndian.PutUint32(rtp[4:8], binary.BigEndian.Uint32(rtp[4:8])+7_000_000)
	}
	// Swap frames (not capture times) of pairs: packet i arrives after i+1.
	for i := range recs {
		if swap[i] && i+1 < len(recs) {
			recs[i].frame, recs[i+1].frame = recs[i+1].frame, recs[i].frame
			fixLen(&recs[i])
			fixLen(&recs[i+1])
		}
	}
	out := append([]byte(nil), raw[:24]...)
	payload := 0
	for i, r := range recs {
		if drop[i] {
			continue
		}
		out = append(out, r.hdr[:]...)
		out = append(out, r.frame...)
		payload += len(r.frame) - rtpOffset(r.frame) - 12
	}
	p := filepath.Join(t.TempDir(), fmt.Sprintf("impaired-%d.pcap", len(drop)))
	require.NoError(t, os.WriteFile(p, out, 0o600))
	return p, payload
}

func fixLen(r *pcapRecord) {
	binary.LittleEndian.PutUint32(r.hdr[8:12], uint32(len(r.frame)))
	binary.LittleEndian.PutUint32(r.hdr[12:16], uint32(len(r.frame)))
}
