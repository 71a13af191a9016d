package voicemail

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/audio"
)

func TestArrivalReaderFollowsTheSenderAndRewinds(t *testing.T) {
	want := bytes.Repeat([]byte("0123456789"), 1000)
	a := NewArrival(len(want))
	pr, pw := io.Pipe()
	filled := make(chan error, 1)
	go func() { filled <- a.Fill(pr) }()

	r := a.Reader(nil)
	end, err := r.Seek(0, io.SeekEnd)
	require.NoError(t, err)
	assert.Equal(t, int64(len(want)), end, "the size is known before any byte arrived")
	_, err = r.Seek(0, io.SeekStart)
	require.NoError(t, err)

	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(r)
		got <- b
	}()
	for off := 0; off < len(want); off += 777 { // the reader waits between the writes
		_, err := pw.Write(want[off:min(off+777, len(want))])
		require.NoError(t, err)
	}
	require.NoError(t, <-filled)
	assert.Equal(t, want, <-got)

	_, err = r.Seek(0, io.SeekStart) // an upload retry reads it all again
	require.NoError(t, err)
	again, err := io.ReadAll(r)
	require.NoError(t, err)
	assert.Equal(t, want, again)
	all, err := a.Bytes()
	require.NoError(t, err)
	assert.Equal(t, want, all)
}

func TestArrivalShortSenderFailsEveryReader(t *testing.T) {
	a := NewArrival(100)
	r := a.Reader(nil)
	read := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(r)
		read <- err
	}()
	err := a.Fill(bytes.NewReader(make([]byte, 60))) // 60 of the 100 announced bytes
	require.ErrorIs(t, err, ErrArrival)
	assert.ErrorIs(t, <-read, ErrArrival, "a reader never sees a short body as complete")
	_, err = a.Bytes()
	assert.ErrorIs(t, err, ErrArrival)
	assert.ErrorIs(t, a.Err(), ErrArrival)
	select {
	case <-a.Done():
	default:
		t.Fatal("a failed arrival is done")
	}
}

func TestArrivalReaderStopsWithoutFailingTheArrival(t *testing.T) {
	a := NewArrival(10)
	stop := make(chan struct{})
	r := a.Reader(stop)
	read := make(chan error, 1)
	go func() {
		_, err := r.Read(make([]byte, 10))
		read <- err
	}()
	close(stop)
	select {
	case err := <-read:
		require.Error(t, err)
		assert.False(t, errors.Is(err, ErrArrival), "the reader stopped; the sender did nothing wrong")
	case <-time.After(5 * time.Second):
		t.Fatal("stop did not end a waiting Read")
	}
	assert.NoError(t, a.Err())
	require.NoError(t, a.Fill(bytes.NewReader(make([]byte, 10))))
	_, err := a.Bytes()
	assert.NoError(t, err)
}

func TestArrivalHeaderWaitsForItsBytes(t *testing.T) {
	wav := audio.Encode(audio.PCM16, make([]byte, 800))
	a := NewArrival(len(wav))
	pr, pw := io.Pipe()
	go func() { _ = a.Fill(pr) }()
	got := make(chan error, 1)
	go func() {
		h, err := a.header(t.Context())
		if err == nil && h.DataLen != 800 {
			err = errors.New("wrong data length")
		}
		got <- err
	}()
	_, err := pw.Write(wav[:20]) // not yet the whole header
	require.NoError(t, err)
	select {
	case err := <-got:
		t.Fatalf("header answered from 20 bytes: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	_, err = pw.Write(wav[20:])
	require.NoError(t, err)
	require.NoError(t, <-got)

	bad := NewArrival(100)
	require.NoError(t, bad.FillAtLeast(bytes.NewReader([]byte("RIFX\x00\x00\x00\x00WAVE")), 12))
	_, err = bad.header(t.Context())
	assert.ErrorIs(t, err, ErrBadAudio, "refused from the first bytes")
}
