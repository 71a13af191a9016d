package imap

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// mimeMessage is one message as IMAP clients see it: multipart/mixed with a text part and an
// audio/wav part. Everything but the audio bytes is built from metadata, so FLAGS, SIZE,
// headers and BODYSTRUCTURE never touch the audio store; only sections that include the audio
// part call loadAudio.
type mimeMessage struct {
	header    []byte // top-level header block, ending with the blank line
	boundary  string
	textHead  []byte // part 1 MIME header, ending with the blank line
	text      []byte // part 1 body, no trailing CRLF (the delimiter's CRLF follows)
	audioHead []byte // part 2 MIME header, ending with the blank line
	audioLen  int64  // raw WAV bytes
	filename  string
	loadAudio func(ctx context.Context) ([]byte, error)
}

// voiceParams is what a voice message's headers are built from.
type voiceParams struct {
	ID       string
	Caller   string
	Mailbox  string
	Domain   string
	Received time.Time
	Seconds  int64 // whole seconds
	Size     int64
	// Extra top-level headers (e.g. X-CNS-Greeting-Type for the Greetings folder), in order.
	Extra [][2]string
	// Subject and Text override the defaults for voice messages.
	Subject string
	Text    string
}

func newMIMEMessage(p voiceParams, load func(ctx context.Context) ([]byte, error)) *mimeMessage {
	caller := cleanHeader(p.Caller, 64)
	if caller == "" {
		caller = "unknown"
	}
	domain := p.Domain
	secs := p.Seconds
	date := p.Received.UTC().Format(time.RFC1123Z)
	subject := p.Subject
	if subject == "" {
		subject = "Voice message from " + caller
	}
	text := p.Text
	if text == "" {
		unit := "seconds"
		if secs == 1 {
			unit = "second"
		}
		text = fmt.Sprintf("Voice message from %s, %d %s, received %s.", caller, secs, unit, date)
	}
	idPart := cleanID(p.ID)
	boundary := "=_vvm_" + idPart
	filename := idPart + ".wav"

	var h bytes.Buffer
	hdr := func(k, v string) { h.WriteString(k + ": " + v + "\r\n") }
	hdr("Return-Path", "<>")
	hdr("From", "<"+addrLocal(caller)+"@"+domain+">")
	hdr("To", "<"+addrLocal(cleanHeader(p.Mailbox, 64))+"@"+domain+">")
	hdr("Date", date)
	hdr("Subject", subject)
	hdr("Message-ID", "<"+idPart+"@"+domain+">")
	hdr("Message-Context", "voice-message")
	hdr("Content-Duration", strconv.FormatInt(secs, 10))
	for _, kv := range p.Extra {
		hdr(kv[0], cleanHeader(kv[1], 200))
	}
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", `multipart/mixed; boundary="`+boundary+`"`)
	h.WriteString("\r\n")

	textHead := "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
	audioHead := "Content-Type: audio/wav; name=\"" + filename + "\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n" +
		"Content-Disposition: attachment; filename=\"" + filename + "\"\r\n" +
		"Content-Duration: " + strconv.FormatInt(secs, 10) + "\r\n\r\n"
	return &mimeMessage{
		header:    h.Bytes(),
		boundary:  boundary,
		textHead:  []byte(textHead),
		text:      []byte(cleanHeader(text, 1000)),
		audioHead: []byte(audioHead),
		audioLen:  p.Size,
		filename:  filename,
		loadAudio: load,
	}
}

// cleanHeader keeps a value on one printable ASCII line so the headers stay well-formed.
func cleanHeader(s string, max int) string {
	if len(s) <= max && printable(s) {
		return strings.TrimSpace(s) // the common case: nothing to drop
	}
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= max {
			break
		}
		if r >= 0x20 && r < 0x7f {
			b.WriteRune(r)
		}
	}
	return strings.TrimSpace(b.String())
}

// addrLocal makes s usable as an address local part (callers are numbers; anything else is
// reduced to safe characters).
func addrLocal(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool { return !addrRune(r) }) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if addrRune(r) {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		return "unknown"
	}
	return b.String()
}

func addrRune(r rune) bool {
	return r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '+' || r == '-' || r == '.' || r == '_'
}

// printable reports whether s is all printable ASCII.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

func cleanID(id string) string {
	s := addrLocal(id)
	if len(s) > 60 {
		s = s[:60]
	}
	return s
}

// base64Len is the size of the wrapped base64 body of n bytes: 76-column lines joined by CRLF,
// without a CRLF after the last line (the delimiter's CRLF follows it).
func base64Len(n int64) int64 {
	b := 4 * ((n + 2) / 3)
	if b == 0 {
		return 0
	}
	lines := (b + 75) / 76
	return b + 2*(lines-1)
}

func base64Wrapped(data []byte) []byte {
	enc := base64.StdEncoding.EncodeToString(data)
	var out bytes.Buffer
	out.Grow(int(base64Len(int64(len(data)))))
	for i := 0; i < len(enc); i += 76 {
		if i > 0 {
			out.WriteString("\r\n")
		}
		end := min(i+76, len(enc))
		out.WriteString(enc[i:end])
	}
	return out.Bytes()
}

// writeBase64Wrapped writes what base64Wrapped returns, encoding line by line straight into
// w's buffer: an attachment costs no allocation however large. A write error sticks in w and
// is reported by its next Flush.
func writeBase64Wrapped(w *bufio.Writer, data []byte) {
	const in = 57 // input bytes per 76-column line
	for first := true; len(data) > 0; first = false {
		n := min(in, len(data))
		if w.Available() < 78 {
			if w.Flush() != nil {
				return
			}
		}
		b := w.AvailableBuffer()
		if !first {
			b = append(b, '\r', '\n')
		}
		w.Write(base64.StdEncoding.AppendEncode(b, data[:n]))
		data = data[n:]
	}
}

// literal is a FETCH literal of known length written by write, so large sections go from
// the audio to the connection without being assembled first.
type literal struct {
	n     int64
	write func(w *bufio.Writer)
}

func bytesLiteral(b []byte) literal {
	return literal{int64(len(b)), func(w *bufio.Writer) { w.Write(b) }}
}

// section returns sec of m as a literal; audio is the raw WAV (nil unless needed).
func (m *mimeMessage) section(sec section, audio []byte) literal {
	switch {
	case len(sec.part) == 0 && sec.spec == "":
		return literal{int64(len(m.header)) + m.bodyLenFor(len(audio)), func(w *bufio.Writer) {
			w.Write(m.header)
			m.writeBody(w, audio)
		}}
	case len(sec.part) == 0 && sec.spec == "TEXT":
		return literal{m.bodyLenFor(len(audio)), func(w *bufio.Writer) { m.writeBody(w, audio) }}
	case len(sec.part) == 1 && sec.part[0] == 2 && sec.spec == "":
		return literal{base64Len(int64(len(audio))), func(w *bufio.Writer) { writeBase64Wrapped(w, audio) }}
	}
	return bytesLiteral(m.content(sec, audio))
}

func (m *mimeMessage) delim() string { return "--" + m.boundary + "\r\n" }
func (m *mimeMessage) mid() string   { return "\r\n--" + m.boundary + "\r\n" }
func (m *mimeMessage) end() string   { return "\r\n--" + m.boundary + "--\r\n" }

// bodyLen is the size of everything after the top-level header.
func (m *mimeMessage) bodyLen() int64 { return m.bodyLenFor(int(m.audioLen)) }

// bodyLenFor is bodyLen for n bytes of audio.
func (m *mimeMessage) bodyLenFor(n int) int64 {
	return int64(len(m.delim())+len(m.textHead)+len(m.text)+len(m.mid())+len(m.audioHead)+len(m.end())) +
		base64Len(int64(n))
}

// size is RFC822.SIZE, computed without the audio.
func (m *mimeMessage) size() int64 { return int64(len(m.header)) + m.bodyLen() }

// body assembles the full body after the header; audio is the raw WAV.
func (m *mimeMessage) body(audio []byte) []byte {
	var b bytes.Buffer
	b.Grow(int(m.bodyLenFor(len(audio))))
	w := bufio.NewWriterSize(&b, 4096)
	m.writeBody(w, audio)
	w.Flush()
	return b.Bytes()
}

// writeBody writes the full body after the header; audio is the raw WAV.
func (m *mimeMessage) writeBody(w *bufio.Writer, audio []byte) {
	w.WriteString(m.delim())
	w.Write(m.textHead)
	w.Write(m.text)
	w.WriteString(m.mid())
	w.Write(m.audioHead)
	writeBase64Wrapped(w, audio)
	w.WriteString(m.end())
}

func (m *mimeMessage) textLines() int { return bytes.Count(m.text, []byte("\r\n")) + 1 }

// bodyStructure renders BODY (ext=false) or BODYSTRUCTURE (ext=true).
func (m *mimeMessage) bodyStructure(ext bool) string {
	var b strings.Builder
	b.WriteString(`(("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "7BIT" `)
	fmt.Fprintf(&b, "%d %d", len(m.text), m.textLines())
	if ext {
		b.WriteString(" NIL NIL NIL NIL")
	}
	b.WriteString(`)("AUDIO" "WAV" ("NAME" `)
	b.WriteString(quote(m.filename))
	fmt.Fprintf(&b, `) NIL NIL "BASE64" %d`, base64Len(m.audioLen))
	if ext {
		b.WriteString(` NIL ("ATTACHMENT" ("FILENAME" ` + quote(m.filename) + `)) NIL NIL`)
	}
	b.WriteString(`) "MIXED"`)
	if ext {
		b.WriteString(` ("BOUNDARY" ` + quote(m.boundary) + `) NIL NIL NIL`)
	}
	b.WriteString(")")
	return b.String()
}

// headerFields returns the header lines whose names are (not) in names, plus the blank line.
func headerFields(header []byte, names []string, not bool) []byte {
	want := map[string]bool{}
	for _, n := range names {
		want[strings.ToLower(n)] = true
	}
	var out bytes.Buffer
	for _, line := range bytes.SplitAfter(header, []byte("\r\n")) {
		if len(line) <= 2 {
			continue // the blank line or the split's empty tail
		}
		name, _, _ := bytes.Cut(line, []byte(":"))
		if want[strings.ToLower(string(bytes.TrimSpace(name)))] != not {
			out.Write(line)
		}
	}
	out.WriteString("\r\n")
	return out.Bytes()
}

// envelope renders the ENVELOPE structure from the top-level header.
func (m *mimeMessage) envelope() string {
	get := func(name string) string {
		for _, line := range strings.Split(string(m.header), "\r\n") {
			k, v, ok := strings.Cut(line, ":")
			if ok && strings.EqualFold(k, name) {
				return strings.TrimSpace(v)
			}
		}
		return ""
	}
	addr := func(v string) string {
		v = strings.Trim(v, "<>")
		local, host, ok := strings.Cut(v, "@")
		if !ok {
			return "NIL"
		}
		return "((NIL NIL " + quote(local) + " " + quote(host) + "))"
	}
	from := addr(get("From"))
	return "(" + nstring(get("Date")) + " " + nstring(get("Subject")) + " " + from + " " + from + " " + from +
		" " + addr(get("To")) + " NIL NIL NIL " + nstring(get("Message-ID")) + ")"
}
