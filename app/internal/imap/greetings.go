package imap

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/voicemail-platform/voicemail/app/internal/audio"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
)

// OMTP VVM names greetings in the X-CNS-Greeting-Type header of messages in the Greetings
// folder. We map them onto the service's kinds; our own kind names are accepted too.
var omtpGreetingKinds = map[string]voicemail.GreetingKind{
	"normal-greeting":           voicemail.GreetingUnavailable,
	"no-answer-greeting":        voicemail.GreetingUnavailable,
	"busy-greeting":             voicemail.GreetingBusy,
	"voice-signature":           voicemail.GreetingName,
	"extended-absence-greeting": voicemail.GreetingTemporary,
}

func omtpGreetingType(k voicemail.GreetingKind) string {
	switch k {
	case voicemail.GreetingBusy:
		return "busy-greeting"
	case voicemail.GreetingName:
		return "voice-signature"
	case voicemail.GreetingTemporary:
		return "extended-absence-greeting"
	}
	return "normal-greeting"
}

func greetingKindOf(s string) (voicemail.GreetingKind, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if k, ok := omtpGreetingKinds[s]; ok {
		return k, true
	}
	k := voicemail.GreetingKind(s)
	return k, k.Valid()
}

// greetingItems lists the recorded greetings of a snapshot as messages in UID order, the
// folder's UIDNEXT, and when the first write held back by the visibility delay shows (zero:
// none is). A greeting write (a recording or a deletion) shows once it is the visibility delay
// old, as INBOX messages do, so that another region's write of another kind made just before
// is there first and UIDs ascend; except that a session shows at once the kinds it APPENDed
// itself, since an OMTP client looks for the greeting it just appended to flag it active.
func (s *session) greetingItems(ctx context.Context, snap voicemail.Snapshot) ([]*item, uint32, time.Time, error) {
	created := snap.Mailbox.Created
	delay := s.srv.cfg.VisibilityDelay
	cutoff := s.srv.cfg.Now().Add(-delay)
	var items []*item
	var pending time.Time
	next := uint32(1)
	for _, g := range snap.Greetings {
		if delay > 0 && g.Written.After(cutoff) && !s.appended[g.Kind] {
			if shows := g.Written.Add(delay); pending.IsZero() || shows.Before(pending) {
				pending = shows
			}
			continue
		}
		uid := greetingUID(created, g.Written, g.Kind)
		next = max(next, uid+1)
		if !g.Present {
			continue
		}
		wav, err := s.srv.svc.GreetingAudio(ctx, g)
		if errors.Is(err, voicemail.ErrNotFound) {
			continue // replaced since the snapshot: the next refresh shows the new one
		}
		if err != nil {
			return nil, 0, time.Time{}, err
		}
		var secs float64
		if w, err := audio.Parse(wav); err == nil {
			secs = w.Duration().Seconds()
		}
		kind := g.Kind
		written := strconv.FormatInt(g.Written.UnixMilli(), 10)
		items = append(items, &item{
			uid:      uid,
			key:      string(kind) + ":" + written,
			kind:     kind,
			seen:     true,
			active:   snap.Mailbox.ActiveGreeting == kind,
			internal: g.Written,
			mime: newMIMEMessage(voiceParams{
				ID: "greeting-" + string(kind) + "-" + written, Caller: s.number, Mailbox: s.number,
				Domain: s.srv.cfg.Domain, Received: g.Written, Seconds: int64(math.Round(secs)), Size: int64(len(wav)),
				Extra:   [][2]string{{"X-CNS-Greeting-Type", omtpGreetingType(kind)}},
				Subject: "Greeting: " + omtpGreetingType(kind),
				Text:    "Recorded " + string(kind) + " greeting.",
			}, func(context.Context) ([]byte, error) { return wav, nil }),
		})
	}
	slices.SortFunc(items, func(a, b *item) int { return cmp.Compare(a.uid, b.uid) })
	return items, next, pending, nil
}

// parseGreetingMessage finds the greeting type and the WAV in an appended message: a
// multipart message with an audio part, or a single audio part.
func parseGreetingMessage(raw []byte) (voicemail.GreetingKind, []byte, error) {
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return "", nil, fmt.Errorf("not a MIME message: %w", err)
	}
	typ := m.Header.Get("X-CNS-Greeting-Type")
	if typ == "" {
		typ = m.Header.Get("X-Greeting-Type")
	}
	if typ == "" {
		typ = m.Header.Get("X-Greeting")
	}
	if typ == "" {
		return "", nil, errors.New("missing X-CNS-Greeting-Type header")
	}
	kind, ok := greetingKindOf(typ)
	if !ok {
		return "", nil, fmt.Errorf("unknown greeting type %q", typ)
	}
	wav, err := findAudio(m.Header.Get("Content-Type"), m.Header.Get("Content-Transfer-Encoding"), m.Body, 0)
	if err != nil {
		return "", nil, err
	}
	return kind, wav, nil
}

func findAudio(contentType, cte string, body io.Reader, depth int) ([]byte, error) {
	if depth > 4 {
		return nil, errors.New("MIME nested too deeply")
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, fmt.Errorf("invalid Content-Type %q", contentType)
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return nil, errors.New("no audio/wav part in the message")
			}
			if err != nil {
				return nil, fmt.Errorf("reading MIME parts: %w", err)
			}
			ct := p.Header.Get("Content-Type")
			if pt, _, _ := mime.ParseMediaType(ct); strings.HasPrefix(pt, "audio/") || strings.HasPrefix(pt, "multipart/") {
				wav, err := findAudio(ct, p.Header.Get("Content-Transfer-Encoding"), p, depth+1)
				if err == nil || !strings.HasPrefix(pt, "multipart/") {
					return wav, err
				}
			}
		}
	}
	switch mt {
	case "audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave":
	default:
		return nil, fmt.Errorf("greeting audio must be audio/wav, not %s", mt)
	}
	var r io.Reader = body
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, &stripSpace{r: body})
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	case "", "7bit", "8bit", "binary":
	default:
		return nil, fmt.Errorf("unsupported Content-Transfer-Encoding %q", cte)
	}
	wav, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("decoding greeting audio: %w", err)
	}
	return wav, nil
}

// stripSpace drops CR, LF, spaces and tabs so base64 lines decode as one stream.
type stripSpace struct{ r io.Reader }

func (s *stripSpace) Read(p []byte) (int, error) {
	for {
		n, err := s.r.Read(p)
		j := 0
		for _, c := range p[:n] {
			if c != '\r' && c != '\n' && c != ' ' && c != '\t' {
				p[j] = c
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}
