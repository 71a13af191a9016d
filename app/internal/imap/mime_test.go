package imap

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/audio"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
)

func testWAV(ms int) []byte {
	return audio.Encode(audio.PCM16, audio.FromPCM16(audio.PCM16, audio.Tone(440, ms, 8000)))
}

func testMIME(t *testing.T, wav []byte) *mimeMessage {
	t.Helper()
	return newMIMEMessage(voiceParams{
		ID: "20261122T071500.123Z-abc", Caller: "+15551230000", Mailbox: "5550100", Domain: "vvm.example",
		Received: time.Date(2026, 11, 22, 7, 15, 0, 0, time.UTC), Seconds: 2, Size: int64(len(wav)),
	}, func(context.Context) ([]byte, error) { return wav, nil })
}

func TestMIMEMessageParsesAndSizeIsExact(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 56, 57, 58, 1000, 12345} {
		wav := bytes.Repeat([]byte{0x5a}, n)
		m := testMIME(t, wav)
		full := m.content(section{}, wav)
		require.EqualValues(t, len(full), m.size(), "RFC822.SIZE for %d audio bytes", n)
		assert.EqualValues(t, len(base64Wrapped(wav)), base64Len(int64(n)))
	}

	wav := testWAV(1500)
	m := testMIME(t, wav)
	full := m.content(section{}, wav)
	msg, err := mail.ReadMessage(bytes.NewReader(full))
	require.NoError(t, err)
	assert.Equal(t, "<+15551230000@vvm.example>", msg.Header.Get("From"))
	assert.Equal(t, "2", msg.Header.Get("Content-Duration"))
	assert.Equal(t, "<20261122T071500.123Z-abc@vvm.example>", msg.Header.Get("Message-ID"))
	date, err := msg.Header.Date()
	require.NoError(t, err)
	assert.True(t, date.Equal(time.Date(2026, 11, 22, 7, 15, 0, 0, time.UTC)))

	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	require.NoError(t, err)
	assert.Equal(t, "multipart/mixed", mt)
	mr := multipart.NewReader(msg.Body, params["boundary"])
	p1, err := mr.NextPart()
	require.NoError(t, err)
	assert.Equal(t, "text/plain; charset=utf-8", p1.Header.Get("Content-Type"))
	text, _ := io.ReadAll(p1)
	assert.Equal(t, string(m.content(section{part: []int{1}}, nil)), string(text))
	p2, err := mr.NextRawPart()
	require.NoError(t, err)
	assert.Equal(t, `audio/wav; name="20261122T071500.123Z-abc.wav"`, p2.Header.Get("Content-Type"))
	got, err := findAudio(p2.Header.Get("Content-Type"), p2.Header.Get("Content-Transfer-Encoding"), p2, 0)
	require.NoError(t, err)
	assert.Equal(t, wav, got, "the audio part decodes to the stored WAV")
	_, err = mr.NextPart()
	assert.Equal(t, io.EOF, err)

	// BODY[2] is exactly the encoded body BODYSTRUCTURE announces.
	part2 := m.content(section{part: []int{2}}, wav)
	assert.Contains(t, m.bodyStructure(true), ` "BASE64" `+strconv.Itoa(len(part2))+" ")
	assert.Contains(t, string(full), string(part2))
}

func TestHeaderFields(t *testing.T) {
	m := testMIME(t, nil)
	got := string(headerFields(m.header, []string{"date", "SUBJECT", "x-none"}, false))
	assert.Equal(t, "Date: Sun, 22 Nov 2026 07:15:00 +0000\r\nSubject: Voice message from +15551230000\r\n\r\n", got,
		"header order, not request order")
	not := string(headerFields(m.header, []string{"Content-Type"}, true))
	assert.NotContains(t, not, "Content-Type")
	assert.Contains(t, not, "Content-Duration: 2\r\n")
	assert.True(t, strings.HasSuffix(not, "\r\n\r\n"))
}

func TestFetchItemParsing(t *testing.T) {
	items, err := parseFetchItems(list(atom("flags"), atom("BODY.PEEK[HEADER.FIELDS (Date From)]"), atom("BODY[2]<0.100>"), atom("body[1.MIME]")))
	require.NoError(t, err)
	require.Len(t, items, 4)
	assert.Equal(t, "FLAGS", items[0].name)
	assert.True(t, items[1].sec.peek)
	assert.Equal(t, "BODY[HEADER.FIELDS (Date From)]", items[1].sec.label)
	assert.Equal(t, []int{2}, items[2].sec.part)
	assert.True(t, items[2].sec.partial)
	assert.EqualValues(t, 100, items[2].sec.count)
	assert.True(t, items[2].sec.needsAudio())
	assert.Equal(t, "BODY[1.MIME]", items[3].sec.label)
	assert.False(t, items[3].sec.needsAudio())

	quoted, err := parseFetchItems(atom(`BODY.PEEK[HEADER.FIELDS ("Content-Duration" From)]`))
	require.NoError(t, err, "go-imap's client quotes field names")
	assert.Equal(t, []string{"Content-Duration", "From"}, quoted[0].sec.fields)

	all, err := parseFetchItems(atom("ALL"))
	require.NoError(t, err)
	assert.Len(t, all, 4)

	for _, bad := range []string{"BODY[HEADER.FIELDS]", "BODY[HEADER.FIELDS ()]", `BODY[HEADER.FIELDS ("a:b")]`, "BODY[FOO]", "BODY[1]<x>", "BODY[MIME]", "NOPE", "BODY[0]"} {
		_, err := parseFetchItems(atom(bad))
		assert.Error(t, err, bad)
	}
}

func TestUIDsAscendWithDepositOrder(t *testing.T) {
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	deposits := []time.Time{
		created.Add(-2 * time.Hour),    // before creation and the skew allowance: clamps
		created.Add(-30 * time.Minute), // skewed clock: still positive
		created.Add(time.Second),       // same tick thrice
		created.Add(time.Second + time.Millisecond),
		created.Add(time.Second + 2*time.Millisecond),
		created.Add(24 * time.Hour),
		created.Add(10 * 365 * 24 * time.Hour),
	}
	uids := assignUIDs(created, deposits)
	for i := 1; i < len(uids); i++ {
		assert.Greater(t, uids[i], uids[i-1])
	}
	assert.Equal(t, uids, assignUIDs(created, deposits), "derived, so every stamp computes the same")
	assert.Equal(t, uidBase(created, deposits[5]), uids[5], "no collision: the tick itself")
	assert.EqualValues(t, created.Unix(), uidValidity(created, 0))
	assert.Greater(t, uidValidity(created.Add(time.Second), 0), uidValidity(created, 0),
		"a re-created mailbox gets a greater UIDVALIDITY")
}

func TestParseGreetingMessage(t *testing.T) {
	wav := testWAV(500)
	m := newMIMEMessage(voiceParams{ID: "g", Caller: "5550100", Mailbox: "5550100", Domain: "d", Size: int64(len(wav)),
		Extra: [][2]string{{"X-CNS-Greeting-Type", "busy-greeting"}}}, nil)
	kind, got, err := parseGreetingMessage(m.content(section{}, wav))
	require.NoError(t, err)
	assert.Equal(t, voicemail.GreetingBusy, kind)
	assert.Equal(t, wav, got)

	single := "X-Greeting: voice-signature\r\nContent-Type: audio/wav\r\nContent-Transfer-Encoding: binary\r\n\r\n" + string(wav)
	kind, got, err = parseGreetingMessage([]byte(single))
	require.NoError(t, err)
	assert.Equal(t, voicemail.GreetingName, kind)
	assert.Equal(t, wav, got)

	for name, raw := range map[string]string{
		"no type":       "Content-Type: audio/wav\r\n\r\nRIFF",
		"unknown type":  "X-CNS-Greeting-Type: party\r\nContent-Type: audio/wav\r\n\r\nRIFF",
		"not audio":     "X-CNS-Greeting-Type: normal-greeting\r\nContent-Type: text/plain\r\n\r\nhi",
		"no audio part": "X-CNS-Greeting-Type: normal-greeting\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b--\r\n",
		"garbage":       "\x00\x01",
	} {
		_, _, err := parseGreetingMessage([]byte(raw))
		assert.Error(t, err, name)
	}
}

// Streamed sections are byte for byte what the assembled ones are, and as long as announced.
func TestStreamedSectionsMatchAssembled(t *testing.T) {
	for _, n := range []int{0, 1, 56, 57, 58, 114, 1000, 80044} {
		wav := bytes.Repeat([]byte{0x5a, 0x01, 0xff}, n)[:n]
		m := testMIME(t, wav)
		for _, sec := range []section{{}, {spec: "TEXT"}, {part: []int{2}}, {part: []int{1}}, {spec: "HEADER"}} {
			lit := m.section(sec, wav)
			var out bytes.Buffer
			w := bufio.NewWriterSize(&out, 100) // small: the encoder must cross buffer flushes
			lit.write(w)
			require.NoError(t, w.Flush())
			assert.Equal(t, m.content(sec, wav), out.Bytes(), "%d bytes, %+v", n, sec)
			assert.EqualValues(t, out.Len(), lit.n, "%d bytes, %+v", n, sec)
		}
	}
}
