package audio

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEncodeParseRoundTrip(t *testing.T) {
	for _, enc := range []Encoding{PCM16, ALaw, ULaw} {
		t.Run(enc.String(), func(t *testing.T) {
			data := FromPCM16(enc, Tone(440, 1000, 8000))
			w, err := Parse(Encode(enc, data))
			require.NoError(t, err)
			assert.Equal(t, enc, w.Encoding)
			assert.Equal(t, data, w.Data)
			assert.Equal(t, time.Second, w.Duration())
		})
	}
}

func TestG711KnownValues(t *testing.T) {
	// Silence code words from G.711: A-law 0xD5/0x55 decode to +-8, µ-law 0xFF/0x7F to 0.
	assert.Equal(t, int16(8), DecodeALaw(0xD5))
	assert.Equal(t, int16(-8), DecodeALaw(0x55))
	assert.Equal(t, int16(0), DecodeULaw(0xFF))
	assert.Equal(t, int16(0), DecodeULaw(0x7F))
	assert.Equal(t, byte(0xD5), LinearToALaw(0))
	assert.Equal(t, byte(0xFF), LinearToULaw(0))
	assert.Equal(t, int16(32124), DecodeULaw(0x80))
	assert.Equal(t, int16(-32256), DecodeALaw(0x2A))
}

func TestG711RoundTripWithinQuantisation(t *testing.T) {
	for v := -32768; v <= 32767; v += 7 {
		s := int16(v)
		for _, c := range []struct {
			name string
			got  int16
		}{{"alaw", DecodeALaw(LinearToALaw(s))}, {"ulaw", DecodeULaw(LinearToULaw(s))}} {
			diff := int(c.got) - v
			if diff < 0 {
				diff = -diff
			}
			// Companding error grows with magnitude (under 1/16 of it plus the smallest step);
			// µ-law clips at 32124, A-law at 32256.
			mag := v
			if mag < 0 {
				mag = -mag
			}
			limit := mag/16 + 16
			if mag > 32000 {
				limit = 700
			}
			if diff > limit {
				t.Fatalf("%s: %d -> %d (error %d > %d)", c.name, v, c.got, diff, limit)
			}
		}
	}
}

func TestParseRejects(t *testing.T) {
	good := Encode(PCM16, make([]byte, 1600))
	withFmt := func(tag, channels uint16, rate uint32, bits uint16) []byte {
		b := append([]byte(nil), good...)
		binary.LittleEndian.PutUint16(b[20:], tag)
		binary.LittleEndian.PutUint16(b[22:], channels)
		binary.LittleEndian.PutUint32(b[24:], rate)
		binary.LittleEndian.PutUint16(b[34:], bits)
		return b
	}
	cases := map[string][]byte{
		"empty":       nil,
		"not riff":    []byte("RIFX0000WAVEfmt "),
		"mp3 tag":     withFmt(0x55, 1, 8000, 16),
		"stereo":      withFmt(1, 2, 8000, 16),
		"16 kHz":      withFmt(1, 1, 16000, 16),
		"8-bit pcm":   withFmt(1, 1, 8000, 8),
		"no data":     good[:36],
		"short fmt":   append([]byte("RIFF\x10\x00\x00\x00WAVEfmt \x04\x00\x00\x00"), 1, 0, 1, 0),
		"data first":  append([]byte("RIFF\x10\x00\x00\x00WAVEdata\x02\x00\x00\x00"), 0, 0),
		"fmt overrun": append(append([]byte(nil), good[:16]...), 0xff, 0xff, 0, 0),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(b)
			require.Error(t, err)
			assert.True(t, errors.Is(err, ErrInvalid), err)
		})
	}
}

func TestParseSkipsExtraChunksAndRefusesFalseDataSize(t *testing.T) {
	b := Encode(ALaw, []byte{1, 2, 3, 4})
	// Insert a LIST chunk between fmt and data, as many encoders do.
	fmtEnd := 12 + 8 + 18
	list := append([]byte("LIST\x03\x00\x00\x00abc"), 0) // odd size, padded
	withList := append(append(append([]byte(nil), b[:fmtEnd]...), list...), b[fmtEnd:]...)
	w, err := Parse(withList)
	require.NoError(t, err)
	assert.Equal(t, []byte{1, 2, 3, 4}, w.Data)

	// A data chunk that declares 4 GB (a forged header, or a streaming writer that never
	// patched it) over 4 bytes of samples is refused with a message that says so.
	streamed := append([]byte(nil), b...)
	binary.LittleEndian.PutUint32(streamed[fmtEnd+4:], 0xFFFFFFFF)
	_, err = Parse(streamed)
	require.ErrorIs(t, err, ErrInvalid)
	assert.ErrorContains(t, err, `chunk "data" declares 4294967295 bytes but only 4 follow`)
}

func TestConvertAndLevel(t *testing.T) {
	pcm := Tone(1000, 200, 10000)
	w := WAV{Encoding: PCM16, Data: FromPCM16(PCM16, pcm)}
	alaw := Convert(w, ALaw)
	require.Len(t, alaw, len(pcm))
	back := WAV{Encoding: ALaw, Data: alaw}.ToPCM16()
	assert.InDelta(t, Level(pcm), Level(back), Level(pcm)*0.05)
	assert.InDelta(t, 10000/1.414, Level(pcm), 300)
	assert.Equal(t, 0.0, Level(Silence(100)))
}

func FuzzParse(f *testing.F) {
	f.Add(Encode(PCM16, []byte{0, 1, 2, 3}))
	f.Add(Encode(ULaw, []byte{0xff, 0x7f}))
	f.Fuzz(func(t *testing.T, b []byte) {
		w, err := Parse(b)
		if err == nil && len(w.Data)%w.Encoding.BytesPerSample() != 0 {
			t.Fatalf("data not whole samples")
		}
	})
}
