package imap

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
)

// fetchItem is one requested data item.
type fetchItem struct {
	name string // UID, FLAGS, INTERNALDATE, RFC822.SIZE, ENVELOPE, BODY, BODYSTRUCTURE, RFC822, RFC822.HEADER, RFC822.TEXT, or BODY[] for sections
	sec  section
}

// section is a BODY[...] request.
type section struct {
	part    []int    // empty: the whole message
	spec    string   // "", HEADER, HEADER.FIELDS, HEADER.FIELDS.NOT, TEXT, MIME
	fields  []string // for HEADER.FIELDS(.NOT)
	peek    bool
	partial bool
	start   int64
	count   int64  // -1: to the end
	label   string // "BODY[...]" as echoed in the response (without the partial's length)
}

func (sec section) needsAudio() bool {
	switch {
	case len(sec.part) == 0:
		return sec.spec == "" || sec.spec == "TEXT"
	case len(sec.part) == 1 && sec.part[0] == 2:
		return sec.spec == ""
	}
	return false
}

// isAudioPart reports a request for the whole audio part (BODY[2], BODY.PEEK[2]).
func (sec section) isAudioPart() bool {
	return len(sec.part) == 1 && sec.part[0] == 2 && sec.spec == "" && !sec.partial
}

// parseFetchItems reads the FETCH attribute argument: one item, a macro or a list.
func parseFetchItems(v value) ([]fetchItem, error) {
	var atoms []value
	switch v.kind {
	case kindAtom:
		switch strings.ToUpper(v.s) {
		case "ALL":
			return mustItems("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"), nil
		case "FAST":
			return mustItems("FLAGS", "INTERNALDATE", "RFC822.SIZE"), nil
		case "FULL":
			return mustItems("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"), nil
		}
		atoms = []value{v}
	case kindList:
		atoms = v.list
	default:
		return nil, fmt.Errorf("fetch items must be atoms")
	}
	if len(atoms) == 0 {
		return nil, fmt.Errorf("empty fetch item list")
	}
	items := make([]fetchItem, 0, len(atoms))
	for _, a := range atoms {
		if a.kind != kindAtom {
			return nil, fmt.Errorf("fetch items must be atoms")
		}
		it, err := parseFetchItem(a.s)
		if err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	return items, nil
}

func mustItems(names ...string) []fetchItem {
	out := make([]fetchItem, len(names))
	for i, n := range names {
		out[i] = fetchItem{name: n}
	}
	return out
}

func parseFetchItem(s string) (fetchItem, error) {
	// ASCII-only upper-casing keeps byte offsets of up and s aligned.
	up := asciiUpper(s)
	switch up {
	case "UID", "FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY", "BODYSTRUCTURE",
		"RFC822", "RFC822.HEADER", "RFC822.TEXT":
		return fetchItem{name: up}, nil
	}
	var sec section
	switch {
	case strings.HasPrefix(up, "BODY.PEEK["):
		sec.peek = true
		up, s = up[len("BODY.PEEK["):], s[len("BODY.PEEK["):]
	case strings.HasPrefix(up, "BODY["):
		up, s = up[len("BODY["):], s[len("BODY["):]
	default:
		return fetchItem{}, fmt.Errorf("unknown fetch item %q", s)
	}
	end := sectionEnd(s)
	if end < 0 {
		return fetchItem{}, fmt.Errorf("unterminated section")
	}
	inner, innerOrig, rest := up[:end], s[:end], up[end+1:]
	if err := sec.parseSpec(inner, innerOrig); err != nil {
		return fetchItem{}, err
	}
	sec.count = -1
	if rest != "" {
		if !strings.HasPrefix(rest, "<") || !strings.HasSuffix(rest, ">") {
			return fetchItem{}, fmt.Errorf("invalid partial %q", rest)
		}
		a, b, ok := strings.Cut(rest[1:len(rest)-1], ".")
		start, err1 := strconv.ParseInt(a, 10, 64)
		count, err2 := strconv.ParseInt(b, 10, 64)
		if !ok || err1 != nil || err2 != nil || start < 0 || count <= 0 {
			return fetchItem{}, fmt.Errorf("invalid partial %q", rest)
		}
		sec.partial, sec.start, sec.count = true, start, count
	}
	return fetchItem{name: "BODY[]", sec: sec}, nil
}

// parseSpec parses the inside of [...]: part numbers then HEADER, HEADER.FIELDS (..),
// HEADER.FIELDS.NOT (..), TEXT or MIME.
func (sec *section) parseSpec(up, orig string) error {
	head, _, hasList := strings.Cut(up, " ")
	_, origList, _ := strings.Cut(orig, " ")
	for head != "" {
		numStr, rest, _ := strings.Cut(head, ".")
		n, err := strconv.Atoi(numStr)
		if err != nil {
			break
		}
		if n <= 0 || len(sec.part) >= 8 {
			return fmt.Errorf("invalid section part %q", numStr)
		}
		sec.part = append(sec.part, n)
		head = rest
	}
	sec.spec = head
	switch head {
	case "", "TEXT", "HEADER":
		if hasList {
			return fmt.Errorf("unexpected field list")
		}
	case "MIME":
		if hasList || len(sec.part) == 0 {
			return fmt.Errorf("MIME needs a part number")
		}
	case "HEADER.FIELDS", "HEADER.FIELDS.NOT":
		p := &parser{b: []byte(strings.TrimSpace(origList))}
		if p.eof() || p.b[0] != '(' {
			return fmt.Errorf("%s needs a list of field names", head)
		}
		v, err := p.value(0)
		if err != nil || !p.eof() {
			return fmt.Errorf("%s needs a list of field names", head)
		}
		for _, f := range v.list {
			name, ok := f.astring()
			if !ok || name == "" || strings.ContainsAny(name, ": ") {
				return fmt.Errorf("invalid header field name")
			}
			sec.fields = append(sec.fields, name)
		}
		if len(sec.fields) == 0 {
			return fmt.Errorf("%s needs field names", head)
		}
	default:
		return fmt.Errorf("unknown section %q", head)
	}
	var label strings.Builder
	label.WriteString("BODY[")
	for i, p := range sec.part {
		if i > 0 {
			label.WriteByte('.')
		}
		label.WriteString(strconv.Itoa(p))
	}
	if len(sec.part) > 0 && sec.spec != "" {
		label.WriteByte('.')
	}
	label.WriteString(sec.spec)
	if sec.fields != nil {
		label.WriteString(" (" + strings.Join(sec.fields, " ") + ")")
	}
	label.WriteString("]")
	sec.label = label.String()
	return nil
}

// content returns the bytes of sec within m; audio is the raw WAV (nil unless needed).
func (m *mimeMessage) content(sec section, audio []byte) []byte {
	switch len(sec.part) {
	case 0:
		switch sec.spec {
		case "":
			return append(append([]byte{}, m.header...), m.body(audio)...)
		case "HEADER":
			return m.header
		case "HEADER.FIELDS":
			return headerFields(m.header, sec.fields, false)
		case "HEADER.FIELDS.NOT":
			return headerFields(m.header, sec.fields, true)
		case "TEXT":
			return m.body(audio)
		}
	case 1:
		switch {
		case sec.part[0] == 1 && sec.spec == "":
			return m.text
		case sec.part[0] == 1 && sec.spec == "MIME":
			return m.textHead
		case sec.part[0] == 2 && sec.spec == "":
			return base64Wrapped(audio)
		case sec.part[0] == 2 && sec.spec == "MIME":
			return m.audioHead
		}
	}
	return nil // no such part: an empty string, as RFC 3501 allows
}

func (s *session) cmdFetch(ctx context.Context, cmd command) error {
	if err := s.needSelected(); err != nil {
		return err
	}
	if len(cmd.args) != 2 && !(len(cmd.args) == 3 && cmd.args[2].kind == kindList) {
		return bad("%s needs a sequence set and items", cmd.name)
	}
	byUID := cmd.name == "UID FETCH"
	set, err := parseSeqSet(cmd.args[0].s)
	if err != nil || cmd.args[0].kind != kindAtom {
		return bad("invalid sequence set")
	}
	items, err := parseFetchItems(cmd.args[1])
	if err != nil {
		return bad("%v", err)
	}
	if byUID {
		items = append([]fetchItem{{name: "UID"}}, items...)
	}
	for _, i := range s.matching(set, byUID) {
		if err := s.fetchOne(ctx, i, s.sel.items[i], items); err != nil {
			return err
		}
	}
	return nil
}

// matching returns the indexes (sequence number - 1) of the items in set, ascending.
func (s *session) matching(set seqSet, byUID bool) []int {
	var out []int
	items := s.sel.items
	maxSeq, maxUID := uint32(len(items)), s.sel.maxUID()
	for i, it := range items {
		if (byUID && set.contains(it.uid, maxUID)) || (!byUID && set.contains(uint32(i+1), maxSeq)) {
			out = append(out, i)
		}
	}
	return out
}

func (s *session) fetchOne(ctx context.Context, idx int, it *item, items []fetchItem) error {
	var audio []byte
	needAudio, setSeen := false, false
	// The audio part alone, whole, is what VVM clients fetch: it may come from the part cache.
	var part []byte
	partKey := s.sel.name + "/" + it.key
	for _, f := range items {
		switch f.name {
		case "RFC822", "RFC822.TEXT":
			needAudio = true
			setSeen = true
		case "BODY[]":
			if f.sec.isAudioPart() && part == nil {
				part, _ = s.srv.parts.get(partKey)
			}
			needAudio = needAudio || (f.sec.needsAudio() && !(f.sec.isAudioPart() && part != nil))
			setSeen = setSeen || !f.sec.peek
		}
	}
	if needAudio {
		var err error
		if audio, err = it.mime.loadAudio(ctx); err != nil {
			return err
		}
	}
	flagsDue := false
	if setSeen && !it.seen && !s.sel.readOnly {
		if err := s.setSeen(ctx, it, true); err != nil {
			return err
		}
		flagsDue = true
	}
	parts := make([]string, 0, len(items)+1)
	var literals []literal // written in order where parts hold a "\x00" placeholder
	seenUID, seenFlags := false, false
	for _, f := range items {
		switch f.name {
		case "UID":
			if seenUID {
				continue
			}
			seenUID = true
			parts = append(parts, "UID "+strconv.FormatUint(uint64(it.uid), 10))
		case "FLAGS":
			seenFlags = true
			parts = append(parts, "FLAGS "+it.flags())
		case "INTERNALDATE":
			parts = append(parts, "INTERNALDATE \""+it.internal.Format("02-Jan-2006 15:04:05 -0700")+"\"")
		case "RFC822.SIZE":
			parts = append(parts, "RFC822.SIZE "+strconv.FormatInt(it.mime.size(), 10))
		case "ENVELOPE":
			parts = append(parts, "ENVELOPE "+it.mime.envelope())
		case "BODY":
			parts = append(parts, "BODY "+it.mime.bodyStructure(false))
		case "BODYSTRUCTURE":
			parts = append(parts, "BODYSTRUCTURE "+it.mime.bodyStructure(true))
		case "RFC822":
			parts = append(parts, "RFC822 \x00")
			literals = append(literals, it.mime.section(section{}, audio))
		case "RFC822.HEADER":
			parts = append(parts, "RFC822.HEADER \x00")
			literals = append(literals, bytesLiteral(it.mime.header))
		case "RFC822.TEXT":
			parts = append(parts, "RFC822.TEXT \x00")
			literals = append(literals, it.mime.section(section{spec: "TEXT"}, audio))
		case "BODY[]":
			label := f.sec.label
			if f.sec.isAudioPart() {
				if part == nil {
					part = base64Wrapped(audio)
					s.srv.parts.put(partKey, part)
				}
				parts = append(parts, label+" \x00")
				literals = append(literals, bytesLiteral(part))
				continue
			}
			if !f.sec.partial {
				parts = append(parts, label+" \x00")
				literals = append(literals, it.mime.section(f.sec, audio))
				continue
			}
			data := it.mime.content(f.sec, audio)
			label += "<" + strconv.FormatInt(f.sec.start, 10) + ">"
			if f.sec.start >= int64(len(data)) {
				data = nil
			} else {
				data = data[f.sec.start:min(int64(len(data)), f.sec.start+f.sec.count)]
			}
			parts = append(parts, label+" \x00")
			literals = append(literals, bytesLiteral(data))
		}
	}
	if flagsDue && !seenFlags {
		parts = append(parts, "FLAGS "+it.flags())
	}
	s.writef("* %d FETCH (", idx+1)
	for i, p := range parts {
		if i > 0 {
			s.bw.WriteByte(' ')
		}
		if strings.HasSuffix(p, "\x00") {
			s.bw.WriteString(p[:len(p)-1])
			s.bw.WriteByte('{')
			s.bw.WriteString(strconv.FormatInt(literals[0].n, 10))
			s.bw.WriteString("}\r\n")
			literals[0].write(s.bw)
			literals = literals[1:]
			continue
		}
		s.bw.WriteString(p)
	}
	s.bw.WriteString(")\r\n")
	return nil
}

// setSeen stores \Seen: for INBOX it is the message's heard flag in the service, so the HTTP
// API and the phone menu see it; for greetings it lives in the session only.
func (s *session) setSeen(ctx context.Context, it *item, seen bool) error {
	if s.sel.name == inboxName {
		if _, err := s.srv.svc.UpdateMessage(ctx, s.number, it.msgID, voicemail.MessageUpdate{Heard: &seen}); err != nil {
			return err
		}
	}
	it.seen = seen
	return nil
}

func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// sectionEnd is the index of the "]" closing a section that starts at s[0], skipping quoted
// strings; -1 if there is none.
func sectionEnd(s string) int {
	inQuote := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case inQuote && c == '\\':
			i++
		case c == '"':
			inQuote = !inQuote
		case !inQuote && c == ']':
			return i
		}
	}
	return -1
}
