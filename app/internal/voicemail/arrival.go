package voicemail

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/voicemail-platform/voicemail/app/internal/audio"
)

// Arrival is audio of a known size whose bytes are still being received, such as an HTTP
// request body: a receiver fills it in order (Fill) while the blob store already uploads it
// (Reader). Every byte stays in memory, so the queue path and upload retries can still use all
// of it. A deposit then costs about one upload instead of a receive followed by an upload.
type Arrival struct {
	buf []byte

	mu     sync.Mutex
	n      int           // bytes filled
	err    error         // the receive failed; sticky
	notify chan struct{} // closed and replaced whenever n or err changes
	done   chan struct{} // closed once full or failed
	ended  bool
}

// ErrArrival marks a deposit whose audio stopped arriving (the sender went away or sent
// less than it announced). Nothing is stored for it.
var ErrArrival = errors.New("audio did not arrive")

// errReaderStopped ends a Read whose reader was closed or stopped; the audio itself may
// still arrive.
var errReaderStopped = errors.New("arrival: reader stopped")

// NewArrival returns an empty Arrival for size bytes.
func NewArrival(size int) *Arrival {
	return &Arrival{buf: make([]byte, size), notify: make(chan struct{}), done: make(chan struct{})}
}

// Size is the announced length.
func (a *Arrival) Size() int { return len(a.buf) }

// Fill reads from r until the Arrival is full. A short or failed read fails the Arrival.
func (a *Arrival) Fill(r io.Reader) error {
	return a.FillAtLeast(r, len(a.buf))
}

// FillAtLeast reads from r until at least n bytes (at most Size) have arrived, so a caller
// can inspect a prefix, such as a header, before the rest comes in.
func (a *Arrival) FillAtLeast(r io.Reader, n int) error {
	n = max(0, min(n, len(a.buf)))
	for {
		a.mu.Lock()
		filled, err := a.n, a.err
		a.mu.Unlock()
		if err != nil {
			return err
		}
		if filled >= n {
			return nil
		}
		m, rerr := r.Read(a.buf[filled:])
		a.mu.Lock()
		a.n += m
		if rerr != nil && a.n < len(a.buf) {
			if rerr == io.EOF {
				rerr = io.ErrUnexpectedEOF
			}
			a.err = fmt.Errorf("%w: %d of %d bytes: %w", ErrArrival, a.n, len(a.buf), rerr)
		}
		a.changed()
		a.mu.Unlock()
	}
}

// changed wakes waiters; a.mu is held.
func (a *Arrival) changed() {
	close(a.notify)
	a.notify = make(chan struct{})
	if !a.ended && (a.n == len(a.buf) || a.err != nil) {
		a.ended = true
		close(a.done)
	}
}

// Prefix returns the bytes that have arrived so far. They do not change afterwards.
func (a *Arrival) Prefix() []byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.buf[:a.n]
}

// Fail stops an Arrival that is not yet full: readers waiting for more bytes get err
// (wrapped in ErrArrival).
func (a *Arrival) Fail(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err == nil && a.n < len(a.buf) {
		a.err = fmt.Errorf("%w: %w", ErrArrival, err)
		a.changed()
	}
}

// Done is closed once every byte has arrived or the receive failed.
func (a *Arrival) Done() <-chan struct{} { return a.done }

// Bytes waits for every byte and returns them, or the receive's failure.
func (a *Arrival) Bytes() ([]byte, error) {
	<-a.done
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.n == len(a.buf) {
		return a.buf, nil
	}
	return nil, a.err
}

// wait blocks until more than off bytes have arrived, everything has, the receive failed or
// stop/closed is closed, and returns the filled count and the failure.
func (a *Arrival) wait(off int, stop, closed <-chan struct{}) (int, error) {
	for {
		a.mu.Lock()
		filled, err, ch := a.n, a.err, a.notify
		a.mu.Unlock()
		if filled > off || filled == len(a.buf) || err != nil {
			return filled, err
		}
		select {
		case <-ch:
		case <-stop:
			return filled, errReaderStopped
		case <-closed:
			return filled, errReaderStopped
		}
	}
}

// Reader returns an independent reader over the whole audio that blocks for bytes not yet
// arrived. It seeks (upload retries rewind) and reports the full size at io.SeekEnd without
// waiting. Closing it, or closing stop (e.g. a context's Done), ends a waiting Read.
func (a *Arrival) Reader(stop <-chan struct{}) io.ReadSeekCloser {
	return &arrivalReader{a: a, stop: stop, closed: make(chan struct{})}
}

type arrivalReader struct {
	a      *Arrival
	stop   <-chan struct{}
	off    int64
	once   sync.Once
	closed chan struct{}
}

func (r *arrivalReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if r.off >= int64(len(r.a.buf)) {
		return 0, io.EOF
	}
	filled, err := r.a.wait(int(r.off), r.stop, r.closed)
	if int64(filled) <= r.off {
		return 0, err
	}
	n := copy(p, r.a.buf[r.off:filled])
	r.off += int64(n)
	return n, nil
}

func (r *arrivalReader) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = r.off + offset
	case io.SeekEnd:
		abs = int64(len(r.a.buf)) + offset
	default:
		return 0, errors.New("arrival: bad whence")
	}
	if abs < 0 {
		return 0, errors.New("arrival: negative position")
	}
	r.off = abs
	return abs, nil
}

func (r *arrivalReader) Close() error {
	r.once.Do(func() { close(r.closed) })
	return nil
}

// Arrived wraps audio that is already complete.
func Arrived(b []byte) *Arrival {
	a := &Arrival{buf: b, n: len(b), notify: make(chan struct{}), done: make(chan struct{}), ended: true}
	close(a.done)
	return a
}

// Err is the receive's failure, if it failed.
func (a *Arrival) Err() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

func (a *Arrival) complete() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n == len(a.buf)
}

// header waits until the WAV header has arrived and validates it against the announced size
// (audio.ParseHeader): bad audio is refused before anything is stored.
func (a *Arrival) header(ctx context.Context) (audio.Header, error) {
	for {
		prefix := a.Prefix()
		h, err := audio.ParseHeader(prefix, len(a.buf))
		if err == nil {
			return h, nil
		}
		if !errors.Is(err, audio.ErrNeedMore) {
			return audio.Header{}, fmt.Errorf("%w: %w", ErrBadAudio, err)
		}
		if _, err := a.wait(len(prefix), ctx.Done(), nil); err != nil {
			if ctx.Err() != nil {
				return audio.Header{}, ctx.Err()
			}
			return audio.Header{}, err
		}
	}
}
