package sip

import (
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/audio"
)

const sippOffer = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
	"m=audio 6000 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n"

func TestParseOffer(t *testing.T) {
	for _, tc := range []struct {
		name    string
		body    string
		want    codec
		dtmf    bool
		dtmfPT  uint8
		wantErr bool
	}{
		{"sipp offer prefers PCMA", sippOffer, pcma, true, 101, false},
		{"PCMU first, static without rtpmap", "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 18 0 8\r\n", pcmu, false, 0, false},
		{"dynamic telephone-event pt", "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 96\r\nc=IN IP4 10.0.0.2\r\na=rtpmap:96 telephone-event/8000\r\n", pcmu, true, 96, false},
		{"only G.729", "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 18\r\n", codec{}, false, 0, true},
		{"video only", "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=video 4000 RTP/AVP 96\r\n", codec{}, false, 0, true},
		{"garbage", "hello", codec{}, false, 0, true},
		{"no address", "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n", codec{}, false, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseOffer([]byte(tc.body))
			if tc.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, o.Codec)
			assert.Equal(t, tc.dtmf, o.HasDTMF)
			assert.Equal(t, tc.dtmfPT, o.DTMFPT)
			assert.NotNil(t, o.Remote)
		})
	}
}

func TestAnswerRoundTrips(t *testing.T) {
	o, err := parseOffer([]byte(sippOffer))
	require.NoError(t, err)
	ans := answerSDP(o, net.ParseIP("192.0.2.7"), 20000, 42)
	back, err := parseOffer(ans)
	require.NoError(t, err)
	assert.Equal(t, audio.ALaw, back.Codec.Encoding)
	assert.Equal(t, uint8(101), back.DTMFPT)
	assert.Equal(t, "192.0.2.7:20000", back.Remote.String())
}
