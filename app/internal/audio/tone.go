package audio

import "math"

// Tone synthesises a sine tone of freq Hz for ms milliseconds at the given peak amplitude
// (0..32767), with 5 ms ramps so it does not click. Used for the beep and generated prompts.
func Tone(freq float64, ms int, amplitude float64) []int16 {
	n := SampleRate * ms / 1000
	ramp := SampleRate * 5 / 1000
	out := make([]int16, n)
	for i := range out {
		g := 1.0
		if i < ramp {
			g = float64(i) / float64(ramp)
		} else if n-i < ramp {
			g = float64(n-i) / float64(ramp)
		}
		out[i] = int16(amplitude * g * math.Sin(2*math.Pi*freq*float64(i)/SampleRate))
	}
	return out
}

// Silence is ms milliseconds of zero samples.
func Silence(ms int) []int16 { return make([]int16, SampleRate*ms/1000) }

// Level is the RMS of the samples, for silence detection.
func Level(s []int16) float64 {
	if len(s) == 0 {
		return 0
	}
	var sum float64
	for _, v := range s {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(len(s)))
}
