package imap

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

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
