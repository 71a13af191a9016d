// Package prompts holds the built-in telephone prompts (8 kHz A-law WAV, generated once by
// generate.sh with espeak-ng and committed) and serves them in either G.711 law.
package prompts

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/voicemail-platform/voicemail/app/internal/audio"
)

//go:embed wav/*.wav
var files embed.FS

// Set is the parsed prompt set, ready in both G.711 encodings so playback never transcodes.
type Set struct {
	alaw map[string][]byte
	ulaw map[string][]byte
}

// Load parses every embedded prompt. It fails only if a committed file is broken.
func Load() (*Set, error) {
	entries, err := fs.ReadDir(files, "wav")
	if err != nil {
		return nil, fmt.Errorf("read prompts: %w", err)
	}
	s := &Set{alaw: map[string][]byte{}, ulaw: map[string][]byte{}}
	for _, e := range entries {
		b, err := files.ReadFile(path.Join("wav", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read prompt %s: %w", e.Name(), err)
		}
		w, err := audio.Parse(b)
		if err != nil {
			return nil, fmt.Errorf("prompt %s: %w", e.Name(), err)
		}
		name := strings.TrimSuffix(e.Name(), ".wav")
		s.alaw[name] = audio.Convert(w, audio.ALaw)
		s.ulaw[name] = audio.Convert(w, audio.ULaw)
	}
	return s, nil
}

// Samples returns the named prompt's samples in enc (A-law or µ-law), or false if unknown.
func (s *Set) Samples(name string, enc audio.Encoding) ([]byte, bool) {
	m := s.alaw
	if enc == audio.ULaw {
		m = s.ulaw
	}
	b, ok := m[name]
	return b, ok
}

// Names lists the prompts in the set.
func (s *Set) Names() []string {
	out := make([]string, 0, len(s.alaw))
	for n := range s.alaw {
		out = append(out, n)
	}
	return out
}
