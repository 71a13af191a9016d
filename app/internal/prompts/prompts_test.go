package prompts

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/audio"
)

func TestLoadHasEveryPromptTheMenusUse(t *testing.T) {
	s, err := Load()
	require.NoError(t, err)
	for _, name := range []string{"unavailable", "busy", "mailbox-full", "enter-pin", "bad-pin", "locked",
		"main-menu", "help", "message-menu", "options-menu", "goodbye", "digit-0", "digit-9"} {
		a, ok := s.Samples(name, audio.ALaw)
		require.True(t, ok, name)
		u, ok := s.Samples(name, audio.ULaw)
		require.True(t, ok, name)
		assert.Equal(t, len(a), len(u), name)
		d := time.Duration(len(a)) * time.Second / audio.SampleRate
		assert.True(t, d > 200*time.Millisecond && d < 15*time.Second, "%s lasts %v", name, d)
		assert.Greater(t, audio.Level(audio.WAV{Encoding: audio.ALaw, Data: a}.ToPCM16()), 300.0, "%s is not silent", name)
	}
	_, ok := s.Samples("no-such-prompt", audio.ALaw)
	assert.False(t, ok)
}
