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

// greetingItems lists the recorded greetings of a snapshot as messages in UID order, and
// the folder's UIDNEXT.
func (s *session) greetingItems(ctx context.Context, snap voicemail.Snapshot) ([]*item, uint32, error) {
	created := snap.Mailbox.Created
	var items []*item
	next := uint32(1)
	for _, g := range snap.Greetings {
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
			return nil, 0, err
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
	return items, next, nil
}

// cmdAppend accepts a greeting into the Greetings folder (OMTP greeting upload). INBOX only
// receives messages left by callers.
func (s *session) cmdAppend(ctx context.Context, cmd command) error {
	if len(cmd.args) < 2 {
		return bad("APPEND needs a mailbox and a message")
	}
	msg := cmd.args[len(cmd.args)-1]
	if msg.kind != kindString {
		return bad("APPEND message must be a literal")
	}
	var flags []string
	for _, a := range cmd.args[1 : len(cmd.args)-1] {
		switch a.kind {
		case kindList:
			f, err := flagArgs([]value{a})
			if err != nil {
				return bad("%v", err)
			}
			flags = append(flags, f...)
		case kindString:
			if _, err := time.Parse("_2-Jan-2006 15:04:05 -0700", a.s); err != nil {
				return bad("invalid APPEND date-time %q", a.s)
			}
		default:
			return bad("unexpected APPEND argument %q", a.s)
		}
	}
	name, err := mailboxName(cmd.args[0])
	if err != nil {
		var se *statusErr
		if errors.As(err, &se) && se.status == "NO" {
			return no("[TRYCREATE] no such mailbox")
		}
		return err
	}
	if name != greetingsName {
		return no("[CANNOT] only greetings can be appended, to the %s folder", greetingsName)
	}
	kind, wav, err := parseGreetingMessage([]byte(msg.s))
	if err != nil {
		return no("[CANNOT] %v", err)
	}
	if err := s.srv.svc.PutGreeting(ctx, s.number, kind, wav); err != nil {
		return err
	}
	for _, f := range flags {
		if strings.EqualFold(f, flagGreetOn) {
			if _, err := s.srv.svc.Configure(ctx, s.number, voicemail.MailboxPatch{ActiveGreeting: &kind}); err != nil {
				return err
			}
		}
	}
	s.log.Info("imap greeting stored", "kind", kind, "bytes", len(wav))
	if s.state == stateSelected && s.sel.name == greetingsName {
		return s.refresh(ctx)
	}
	return nil
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

// quota reports the voice quota: messages stored (new and saved) against the mailbox limit.
func (s *session) quota(ctx context.Context) (string, error) {
	mb, err := s.srv.svc.Mailbox(ctx, s.number)
	if err != nil {
		return "", err
	}
	msgs, err := s.srv.svc.Messages(ctx, s.number, "")
	if err != nil {
		return "", err
	}
	// OMTP clients (Android's VVM) read the "voice" resource of the QUOTA response.
	return fmt.Sprintf("* QUOTA \"\" (voice %d %d)\r\n", len(msgs), mb.MaxMessages), nil
}

func (s *session) cmdGetQuotaRoot(ctx context.Context, cmd command) error {
	if len(cmd.args) != 1 {
		return bad("GETQUOTAROOT needs a mailbox")
	}
	name, err := mailboxName(cmd.args[0])
	if err != nil {
		return err
	}
	q, err := s.quota(ctx)
	if err != nil {
		return err
	}
	s.writef("* QUOTAROOT %s \"\"\r\n%s", quote(name), q)
	return nil
}

func (s *session) cmdGetQuota(ctx context.Context, cmd command) error {
	if len(cmd.args) != 1 {
		return bad("GETQUOTA needs a quota root")
	}
	if root, ok := cmd.args[0].astring(); !ok || root != "" {
		return no("[NONEXISTENT] the only quota root is \"\"")
	}
	q, err := s.quota(ctx)
	if err != nil {
		return err
	}
	s.writef("%s", q)
	return nil
}

// keyValues reads OMTP's KEY=value arguments.
func keyValues(args []value) (map[string]string, error) {
	out := map[string]string{}
	for _, a := range args {
		s, ok := a.astring()
		if !ok {
			return nil, errors.New("expected KEY=value")
		}
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			return nil, fmt.Errorf("expected KEY=value, got %q", s)
		}
		out[strings.ToUpper(k)] = v
	}
	return out, nil
}

// cmdChangePIN is OMTP's XCHANGE_TUI_PWD PWD=<new> OLD_PWD=<old>. The NO texts are the ones
// OMTP clients match literally, so they carry no response code.
func (s *session) cmdChangePIN(ctx context.Context, cmd command) error {
	kv, err := keyValues(cmd.args)
	if err != nil {
		return bad("%v", err)
	}
	newPIN, ok1 := kv["PWD"]
	oldPIN, ok2 := kv["OLD_PWD"]
	if !ok1 || !ok2 {
		return bad("XCHANGE_TUI_PWD needs PWD= and OLD_PWD=")
	}
	for _, c := range newPIN {
		if c < '0' || c > '9' {
			return no("password contains invalid characters")
		}
	}
	switch {
	case len(newPIN) < 4:
		return no("password too short")
	case len(newPIN) > 10:
		return no("password too long")
	}
	if err := s.srv.svc.Login(voicemail.WithSource(ctx, "ip:"+s.remoteIP()), s.number, oldPIN); err != nil {
		switch {
		case errors.Is(err, voicemail.ErrThrottled):
			return no("too many wrong passwords, try later")
		case errors.Is(err, voicemail.ErrBadPIN):
			return no("old password mismatch")
		case errors.Is(err, voicemail.ErrLocked):
			return no("mailbox locked by the operator")
		}
		return err
	}
	if err := s.srv.svc.ChangePIN(ctx, s.number, newPIN); err != nil {
		if errors.Is(err, voicemail.ErrInvalid) {
			return no("password too weak")
		}
		return err
	}
	s.log.Info("imap PIN changed")
	return nil
}

// cmdChangeLanguage is OMTP's XCHANGE_VM_LANG LANG=<language>.
func (s *session) cmdChangeLanguage(ctx context.Context, cmd command) error {
	kv, err := keyValues(cmd.args)
	if err != nil {
		return bad("%v", err)
	}
	lang, ok := kv["LANG"]
	if !ok || len(cmd.args) != 1 {
		return bad("XCHANGE_VM_LANG needs LANG=")
	}
	if n, err := strconv.Atoi(lang); err == nil {
		if n < 1 || n > len(s.srv.cfg.Languages) {
			return no("invalid language")
		}
		lang = s.srv.cfg.Languages[n-1]
	}
	if lang == "" || len(lang) > 16 || strings.IndexFunc(lang, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) >= 0 {
		return no("invalid language")
	}
	if _, err := s.srv.svc.Configure(ctx, s.number, voicemail.MailboxPatch{Language: &lang}); err != nil {
		if errors.Is(err, voicemail.ErrInvalid) {
			return no("invalid language")
		}
		return err
	}
	return nil
}
