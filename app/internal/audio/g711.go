package audio

// G.711 per ITU-T G.711 (the classic Sun reference algorithm). Decoding uses tables built once
// at init because the hot path (RTP recording, prompt playback) runs per sample.

var alawToLinear, ulawToLinear [256]int16

func init() {
	for i := 0; i < 256; i++ {
		alawToLinear[i] = decodeALaw(byte(i))
		ulawToLinear[i] = decodeULaw(byte(i))
	}
}

// DecodeALaw returns the linear sample for an A-law byte.
func DecodeALaw(c byte) int16 { return alawToLinear[c] }

// DecodeULaw returns the linear sample for a µ-law byte.
func DecodeULaw(c byte) int16 { return ulawToLinear[c] }

func decodeALaw(c byte) int16 {
	c ^= 0x55
	t := int(c&0x0f) << 4
	seg := int(c&0x70) >> 4
	switch seg {
	case 0:
		t += 8
	case 1:
		t += 0x108
	default:
		t += 0x108
		t <<= seg - 1
	}
	if c&0x80 != 0 {
		return int16(t)
	}
	return int16(-t)
}

func decodeULaw(c byte) int16 {
	c = ^c
	t := (int(c&0x0f) << 3) + 0x84
	t <<= (int(c) & 0x70) >> 4
	if c&0x80 != 0 {
		return int16(0x84 - t)
	}
	return int16(t - 0x84)
}

// Segment end points of the scaled magnitude: A-law after >>3, µ-law after >>2 and bias.
var (
	segAEnd = [8]int{0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF}
	segUEnd = [8]int{0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF}
)

func segment(v int, ends *[8]int) int {
	for i, end := range ends {
		if v <= end {
			return i
		}
	}
	return 8
}

// LinearToALaw encodes one 16-bit sample as A-law.
func LinearToALaw(s int16) byte {
	v := int(s) >> 3
	mask := 0xD5
	if v < 0 {
		mask = 0x55
		v = -v - 1
	}
	seg := segment(v, &segAEnd)
	if seg >= 8 {
		return byte(0x7F ^ mask)
	}
	a := seg << 4
	if seg < 2 {
		a |= (v >> 1) & 0x0F
	} else {
		a |= (v >> seg) & 0x0F
	}
	return byte(a ^ mask)
}

// LinearToULaw encodes one 16-bit sample as µ-law.
func LinearToULaw(s int16) byte {
	const bias, clip = 0x84, 8159
	v := int(s) >> 2
	mask := 0xFF
	if v < 0 {
		v = -v
		mask = 0x7F
	}
	if v > clip {
		v = clip
	}
	v += bias >> 2
	seg := segment(v, &segUEnd)
	if seg >= 8 {
		return byte(0x7F ^ mask)
	}
	u := (seg << 4) | ((v >> (seg + 1)) & 0x0F)
	return byte(u ^ mask)
}
