package imap

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
)

// quote renders s as an IMAP quoted string, or a literal when it cannot be quoted.
func quote(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\r' || c == '\n' || c == 0 || c >= 0x80 {
			return fmt.Sprintf("{%d}\r\n%s", len(s), s)
		}
	}
	if !strings.ContainsAny(s, `"\`) {
		return `"` + s + `"`
	}
	b := make([]byte, 0, len(s)+8)
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return string(append(b, '"'))
}

func nstring(s string) string {
	if s == "" {
		return "NIL"
	}
	return quote(s)
}

// flagArgs collects the flags of STORE/APPEND: a list, or bare atoms.
func flagArgs(args []value) ([]string, error) {
	var out []string
	for _, a := range args {
		switch a.kind {
		case kindList:
			for _, f := range a.list {
				if f.kind != kindAtom {
					return nil, fmt.Errorf("flags must be atoms")
				}
				out = append(out, f.s)
			}
		case kindAtom:
			out = append(out, a.s)
		default:
			return nil, fmt.Errorf("flags must be atoms")
		}
	}
	return out, nil
}

func (s *session) cmdStore(ctx context.Context, cmd command) error {
	if err := s.needSelected(); err != nil {
		return err
	}
	if len(cmd.args) < 3 || cmd.args[0].kind != kindAtom || cmd.args[1].kind != kindAtom {
		return bad("%s needs a sequence set, an item and flags", cmd.name)
	}
	if s.sel.readOnly {
		return no("[READ-ONLY] mailbox is read-only")
	}
	byUID := cmd.name == "UID STORE"
	set, err := parseSeqSet(cmd.args[0].s)
	if err != nil {
		return bad("invalid sequence set")
	}
	op := strings.ToUpper(cmd.args[1].s)
	silent := strings.HasSuffix(op, ".SILENT")
	op = strings.TrimSuffix(op, ".SILENT")
	if op != "FLAGS" && op != "+FLAGS" && op != "-FLAGS" {
		return bad("unknown STORE item %q", cmd.args[1].s)
	}
	flags, err := flagArgs(cmd.args[2:])
	if err != nil {
		return bad("%v", err)
	}
	var seen, deleted, active bool
	var kept []string // client flags named, in voicemail.ClientFlags spelling
	for _, f := range flags {
		switch {
		case strings.EqualFold(f, flagSeen):
			seen = true
		case strings.EqualFold(f, flagDeleted):
			deleted = true
		case strings.EqualFold(f, flagGreetOn):
			active = true
		default:
			for _, c := range voicemail.ClientFlags {
				if strings.EqualFold(f, c) && s.sel.name == inboxName && !slices.Contains(kept, c) {
					kept = append(kept, c)
				}
			}
		}
		// Other flags are not permanent here (PERMANENTFLAGS says so); they are dropped.
	}
	want := func(has, cur bool) bool {
		switch op {
		case "+FLAGS":
			return cur || has
		case "-FLAGS":
			return cur && !has
		}
		return has
	}
	for _, i := range s.matching(set, byUID) {
		it := s.sel.items[i]
		if err := s.storeKept(ctx, it, op, kept); err != nil {
			return err
		}
		if ns := want(seen, it.seen); ns != it.seen {
			if err := s.setSeen(ctx, it, ns); err != nil {
				return err
			}
		}
		it.deleted = want(deleted, it.deleted)
		if s.sel.name == greetingsName {
			if na := want(active, it.active); na && !it.active {
				k := it.kind
				if _, err := s.srv.svc.Configure(ctx, s.number, voicemail.MailboxPatch{ActiveGreeting: &k}); err != nil {
					return err
				}
				for _, o := range s.sel.items {
					o.active = false
				}
				it.active = true
			}
		}
		if !silent {
			uid := ""
			if byUID {
				uid = fmt.Sprintf("UID %d ", it.uid)
			}
			s.writef("* %d FETCH (%sFLAGS %s)\r\n", i+1, uid, it.flags())
		}
	}
	return nil
}

// storeKept applies a STORE of client flags (named: the ones the command lists) to a message
// through the service, which merges them like any other message state; only changes are sent.
func (s *session) storeKept(ctx context.Context, it *item, op string, named []string) error {
	if s.sel.name != inboxName {
		return nil
	}
	change := map[string]bool{}
	for _, c := range voicemail.ClientFlags {
		has, in := it.has(c), slices.Contains(named, c)
		switch {
		case op == "+FLAGS" && in && !has, op == "FLAGS" && in && !has:
			change[c] = true
		case op == "-FLAGS" && in && has, op == "FLAGS" && !in && has:
			change[c] = false
		}
	}
	if len(change) == 0 {
		return nil
	}
	m, err := s.srv.svc.UpdateMessage(ctx, s.number, it.msgID, voicemail.MessageUpdate{Flags: change})
	if err != nil {
		return err
	}
	it.kept, it.msg.Flags = m.Flags, m.Flags
	return nil
}

// searchKey is a compiled search criterion.
type searchKey func(seq uint32, it *item) bool

func (s *session) cmdSearch(cmd command) error {
	if err := s.needSelected(); err != nil {
		return err
	}
	args := cmd.args
	if len(args) >= 2 && args[0].kind == kindAtom && strings.EqualFold(args[0].s, "CHARSET") {
		cs, _ := args[1].astring()
		if !strings.EqualFold(cs, "US-ASCII") && !strings.EqualFold(cs, "UTF-8") {
			return no("[BADCHARSET (US-ASCII UTF-8)] unsupported charset")
		}
		args = args[2:]
	}
	if len(args) == 0 {
		return bad("SEARCH needs criteria")
	}
	p := &searchParser{args: args, sel: s.sel}
	var keys []searchKey
	for !p.done() {
		k, err := p.key(0)
		if err != nil {
			return bad("%v", err)
		}
		keys = append(keys, k)
	}
	var hits []string
	for i, it := range s.sel.items {
		ok := true
		for _, k := range keys {
			if !k(uint32(i+1), it) {
				ok = false
				break
			}
		}
		if ok {
			n := uint32(i + 1)
			if cmd.name == "UID SEARCH" {
				n = it.uid
			}
			hits = append(hits, strconv.FormatUint(uint64(n), 10))
		}
	}
	if len(hits) == 0 {
		s.writef("* SEARCH\r\n")
	} else {
		s.writef("* SEARCH %s\r\n", strings.Join(hits, " "))
	}
	return nil
}

type searchParser struct {
	args []value
	i    int
	sel  *selection
}

func (p *searchParser) done() bool { return p.i >= len(p.args) }

func (p *searchParser) next() (value, error) {
	if p.done() {
		return value{}, fmt.Errorf("search criterion needs an argument")
	}
	v := p.args[p.i]
	p.i++
	return v, nil
}

func (p *searchParser) str() (string, error) {
	v, err := p.next()
	if err != nil {
		return "", err
	}
	s, ok := v.astring()
	if !ok {
		return "", fmt.Errorf("expected a string")
	}
	return s, nil
}

func (p *searchParser) key(depth int) (searchKey, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("search nested too deeply")
	}
	v, err := p.next()
	if err != nil {
		return nil, err
	}
	if v.kind == kindList {
		sub := &searchParser{args: v.list, sel: p.sel}
		var keys []searchKey
		for !sub.done() {
			k, err := sub.key(depth + 1)
			if err != nil {
				return nil, err
			}
			keys = append(keys, k)
		}
		if len(keys) == 0 {
			return nil, fmt.Errorf("empty search list")
		}
		return func(seq uint32, it *item) bool {
			for _, k := range keys {
				if !k(seq, it) {
					return false
				}
			}
			return true
		}, nil
	}
	if v.kind != kindAtom {
		return nil, fmt.Errorf("unexpected string in search")
	}
	always := func(b bool) searchKey { return func(uint32, *item) bool { return b } }
	switch key := strings.ToUpper(v.s); key {
	case "ALL", "OLD":
		return always(true), nil
	case "NEW", "RECENT":
		return always(false), nil
	case "ANSWERED", "FLAGGED", "DRAFT", "UNANSWERED", "UNFLAGGED", "UNDRAFT":
		flag := `\` + strings.TrimPrefix(key, "UN")
		return func(_ uint32, it *item) bool { return it.has(flag) != strings.HasPrefix(key, "UN") }, nil
	case "SEEN":
		return func(_ uint32, it *item) bool { return it.seen }, nil
	case "UNSEEN":
		return func(_ uint32, it *item) bool { return !it.seen }, nil
	case "DELETED":
		return func(_ uint32, it *item) bool { return it.deleted }, nil
	case "UNDELETED":
		return func(_ uint32, it *item) bool { return !it.deleted }, nil
	case "KEYWORD", "UNKEYWORD":
		kw, err := p.str()
		if err != nil {
			return nil, err
		}
		isOn := strings.EqualFold(kw, flagGreetOn)
		return func(_ uint32, it *item) bool { return (isOn && it.active) == (key == "KEYWORD") }, nil
	case "NOT":
		k, err := p.key(depth + 1)
		if err != nil {
			return nil, err
		}
		return func(seq uint32, it *item) bool { return !k(seq, it) }, nil
	case "OR":
		a, err := p.key(depth + 1)
		if err != nil {
			return nil, err
		}
		b, err := p.key(depth + 1)
		if err != nil {
			return nil, err
		}
		return func(seq uint32, it *item) bool { return a(seq, it) || b(seq, it) }, nil
	case "UID":
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		set, err := parseSeqSet(s)
		if err != nil {
			return nil, err
		}
		max := p.sel.maxUID()
		return func(_ uint32, it *item) bool { return set.contains(it.uid, max) }, nil
	case "BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE":
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		day, err := time.Parse("2-Jan-2006", s)
		if err != nil {
			return nil, fmt.Errorf("invalid date %q", s)
		}
		return func(_ uint32, it *item) bool {
			t := it.internal.UTC()
			d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
			switch strings.TrimPrefix(key, "SENT") {
			case "BEFORE":
				return d.Before(day)
			case "ON":
				return d.Equal(day)
			}
			return !d.Before(day)
		}, nil
	case "LARGER", "SMALLER":
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("invalid size %q", s)
		}
		return func(_ uint32, it *item) bool {
			if key == "LARGER" {
				return it.mime.size() > n
			}
			return it.mime.size() < n
		}, nil
	case "FROM", "TO", "SUBJECT", "CC", "BCC":
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		return headerContains(key, s), nil
	case "HEADER":
		name, err := p.str()
		if err != nil {
			return nil, err
		}
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		return headerContains(name, s), nil
	case "BODY", "TEXT":
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		return func(_ uint32, it *item) bool {
			hay := string(it.mime.text)
			if key == "TEXT" {
				hay += string(it.mime.header)
			}
			return strings.Contains(strings.ToLower(hay), strings.ToLower(s))
		}, nil
	}
	set, err := parseSeqSet(v.s)
	if err != nil {
		return nil, fmt.Errorf("unknown search key %q", v.s)
	}
	max := uint32(len(p.sel.items))
	return func(seq uint32, _ *item) bool { return set.contains(seq, max) }, nil
}

func headerContains(name, s string) searchKey {
	return func(_ uint32, it *item) bool {
		h := string(headerFields(it.mime.header, []string{name}, false))
		if strings.TrimSpace(h) == "" {
			return false
		}
		_, v, _ := strings.Cut(h, ":")
		return strings.Contains(strings.ToLower(v), strings.ToLower(s))
	}
}
