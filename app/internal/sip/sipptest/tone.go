package sipptest

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/audio"
)

// TonePcap rewrites sipp's g711a.pcap (7.08 s of A-law RTP) to carry a pure tone of freq Hz, so
// every call of a test streams audio that tells it apart.
func TonePcap(t testing.TB, freq float64) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(Share, "g711a.pcap"))
	require.NoError(t, err)
	tone := audio.FromPCM16(audio.ALaw, audio.Tone(freq, 8000, 8000))
	out := append([]byte(nil), raw...)
	pos := 0
	for off := 24; off+16 <= len(out); {
		n := int(binary.LittleEndian.Uint32(out[off+8 : off+12]))
		frame := out[off+16 : off+16+n]
		payload := frame[14+int(frame[14]&0x0f)*4+8+12:] // Ethernet, IPv4 (IHL), UDP, RTP headers
		pos += copy(payload, tone[pos:])
		off += 16 + n
	}
	p := filepath.Join(t.TempDir(), fmt.Sprintf("tone-%.0f.pcap", freq))
	require.NoError(t, os.WriteFile(p, out, 0o600))
	return p
}

// power is the Goertzel power of freq in s (8 kHz samples), normalised by length.
func power(s []int16, freq float64) float64 {
	w := 2 * math.Pi * freq / 8000
	c := 2 * math.Cos(w)
	var s1, s2 float64
	for _, x := range s {
		s0 := float64(x) + c*s1 - s2
		s2, s1 = s1, s0
	}
	return (s1*s1 + s2*s2 - c*s1*s2) / float64(len(s)*len(s))
}

// Dominant is which of freqs is strongest in the recording.
func Dominant(s []int16, freqs []float64) float64 {
	best, bestP := 0.0, -1.0
	for _, f := range freqs {
		if p := power(s, f); p > bestP {
			best, bestP = f, p
		}
	}
	return best
}
