// Package audio reads and writes the WAV files voicemail stores: 8 kHz mono, either 16-bit
// linear PCM or 8-bit G.711 (A-law, µ-law), and converts between G.711 and PCM.
package audio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// SampleRate is the only rate telephony voicemail carries.
const SampleRate = 8000

// Encoding is a WAV format tag this package accepts.
type Encoding uint16

const (
	PCM16 Encoding = 1 // WAVE_FORMAT_PCM, 16-bit
	ALaw  Encoding = 6 // WAVE_FORMAT_ALAW (G.711 A-law, RTP payload 8)
	ULaw  Encoding = 7 // WAVE_FORMAT_MULAW (G.711 µ-law, RTP payload 0)
)

func (e Encoding) String() string {
	switch e {
	case PCM16:
		return "pcm16"
	case ALaw:
		return "alaw"
	case ULaw:
		return "ulaw"
	}
	return fmt.Sprintf("format-%d", uint16(e))
}

// BytesPerSample is 2 for PCM16 and 1 for G.711.
func (e Encoding) BytesPerSample() int {
	if e == PCM16 {
		return 2
	}
	return 1
}

// ErrInvalid is returned (wrapped) for anything that is not an accepted WAV.
var ErrInvalid = errors.New("invalid WAV")

// WAV is a parsed file: its encoding and the raw sample bytes of its data chunk.
type WAV struct {
	Encoding Encoding
	Data     []byte
}

// Duration is the playing time of the samples.
func (w WAV) Duration() time.Duration {
	samples := len(w.Data) / w.Encoding.BytesPerSample()
	return time.Duration(samples) * time.Second / SampleRate
}

// Parse validates b as an 8 kHz mono WAV in one of the accepted encodings. It walks the RIFF
// chunks rather than assuming a 44-byte header, because real encoders add LIST and fact chunks.
// Every chunk must fit in b as declared: a file whose data size disagrees with its body is
// refused, not repaired.
func Parse(b []byte) (WAV, error) {
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return WAV{}, fmt.Errorf("%w: not a RIFF/WAVE file", ErrInvalid)
	}
	var (
		haveFmt bool
		enc     Encoding
	)
	for off := 12; off+8 <= len(b); {
		id := string(b[off : off+4])
		size := int(binary.LittleEndian.Uint32(b[off+4 : off+8]))
		body := off + 8
		if size < 0 || body+size > len(b) {
			// Also a data chunk that declares more than the body holds (a streaming writer
			// that never patched its header, or a forged 4 GB size): stored as it is, the
			// header would lie to every player that later trusts it.
			return WAV{}, fmt.Errorf("%w: chunk %q declares %d bytes but only %d follow", ErrInvalid, id, uint32(size), len(b)-body)
		}
		switch id {
		case "fmt ":
			if size < 16 {
				return WAV{}, fmt.Errorf("%w: fmt chunk too short", ErrInvalid)
			}
			f := b[body : body+size]
			tag := Encoding(binary.LittleEndian.Uint16(f[0:2]))
			channels := binary.LittleEndian.Uint16(f[2:4])
			rate := binary.LittleEndian.Uint32(f[4:8])
			bits := binary.LittleEndian.Uint16(f[14:16])
			if tag == 0xFFFE && size >= 40 { // WAVE_FORMAT_EXTENSIBLE: the real tag leads the sub-format GUID
				tag = Encoding(binary.LittleEndian.Uint16(f[24:26]))
			}
			switch {
			case tag != PCM16 && tag != ALaw && tag != ULaw:
				return WAV{}, fmt.Errorf("%w: format tag %d (want PCM, A-law or µ-law)", ErrInvalid, tag)
			case channels != 1:
				return WAV{}, fmt.Errorf("%w: %d channels (want mono)", ErrInvalid, channels)
			case rate != SampleRate:
				return WAV{}, fmt.Errorf("%w: %d Hz (want 8000)", ErrInvalid, rate)
			case int(bits) != 8*tag.BytesPerSample():
				return WAV{}, fmt.Errorf("%w: %d bits per sample for %s", ErrInvalid, bits, tag)
			}
			enc, haveFmt = tag, true
		case "data":
			if !haveFmt {
				return WAV{}, fmt.Errorf("%w: data chunk before fmt chunk", ErrInvalid)
			}
			data := b[body : body+size]
			if len(data)%enc.BytesPerSample() != 0 {
				data = data[:len(data)-len(data)%enc.BytesPerSample()]
			}
			return WAV{Encoding: enc, Data: data}, nil
		}
		off = body + size + size%2 // chunks are word aligned
	}
	return WAV{}, fmt.Errorf("%w: no data chunk", ErrInvalid)
}

// Encode writes samples as a canonical WAV file.
func Encode(enc Encoding, data []byte) []byte {
	fmtSize := 16
	if enc != PCM16 {
		fmtSize = 18 // non-PCM formats carry cbSize
	}
	out := make([]byte, 0, 12+8+fmtSize+8+len(data)+1)
	le := binary.LittleEndian
	out = append(out, "RIFF"...)
	out = le.AppendUint32(out, 0) // patched below
	out = append(out, "WAVE"...)
	out = append(out, "fmt "...)
	out = le.AppendUint32(out, uint32(fmtSize))
	bps := enc.BytesPerSample()
	out = le.AppendUint16(out, uint16(enc))
	out = le.AppendUint16(out, 1)
	out = le.AppendUint32(out, SampleRate)
	out = le.AppendUint32(out, uint32(SampleRate*bps))
	out = le.AppendUint16(out, uint16(bps))
	out = le.AppendUint16(out, uint16(8*bps))
	if fmtSize == 18 {
		out = le.AppendUint16(out, 0)
	}
	out = append(out, "data"...)
	out = le.AppendUint32(out, uint32(len(data)))
	out = append(out, data...)
	if len(data)%2 == 1 {
		out = append(out, 0)
	}
	le.PutUint32(out[4:8], uint32(len(out)-8))
	return out
}

// ToPCM16 decodes any accepted encoding to 16-bit linear samples.
func (w WAV) ToPCM16() []int16 {
	switch w.Encoding {
	case ALaw:
		out := make([]int16, len(w.Data))
		for i, c := range w.Data {
			out[i] = alawToLinear[c]
		}
		return out
	case ULaw:
		out := make([]int16, len(w.Data))
		for i, c := range w.Data {
			out[i] = ulawToLinear[c]
		}
		return out
	}
	out := make([]int16, len(w.Data)/2)
	for i := range out {
		out[i] = int16(binary.LittleEndian.Uint16(w.Data[2*i:]))
	}
	return out
}

// FromPCM16 encodes linear samples into enc.
func FromPCM16(enc Encoding, s []int16) []byte {
	switch enc {
	case ALaw:
		out := make([]byte, len(s))
		for i, v := range s {
			out[i] = LinearToALaw(v)
		}
		return out
	case ULaw:
		out := make([]byte, len(s))
		for i, v := range s {
			out[i] = LinearToULaw(v)
		}
		return out
	}
	out := make([]byte, 2*len(s))
	for i, v := range s {
		binary.LittleEndian.PutUint16(out[2*i:], uint16(v))
	}
	return out
}

// Convert re-encodes a WAV's samples into enc (identity when it already is).
func Convert(w WAV, enc Encoding) []byte {
	if w.Encoding == enc {
		return w.Data
	}
	return FromPCM16(enc, w.ToPCM16())
}
