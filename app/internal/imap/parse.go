package imap

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Errors from reading a command off the wire. errLineTooLong and errLiteralRejected leave the
// stream positioned at the next command, so the session answers BAD and carries on;
// errLiteralTooLarge (a non-synchronising literal we will not buffer) ends the session.
var (
	errLineTooLong     = errors.New("command line too long")
	errLiteralRejected = errors.New("literal too large")
	errLiteralTooLarge = errors.New("non-synchronising literal too large")
)

// rawCommand is one command as read from the wire: its lines joined, each literal kept inline
// as "{n}\r\n" followed by its n bytes, the final CRLF removed. The tag is recovered even when
// the command is later rejected, so BAD can carry it.
type rawCommand []byte

// readCommand reads one command, sending a continuation (cont) before the bytes of every
// synchronising literal. maxLine bounds the text outside literals, maxLiteral each literal and
// maxTotal the whole command (a command may chain many literals). A literal's buffer grows
// with the bytes that arrive, not with the size it announces, so a stalled sender holds only
// what it sent.
func readCommand(r *bufio.Reader, maxLine, maxLiteral, maxTotal int, cont func() error) (rawCommand, error) {
	var buf []byte
	text := 0 // bytes outside literals, bounded by maxLine
	for {
		line, err := readLine(r, maxLine-text)
		if err != nil {
			return rawCommand(append(buf, line...)), err
		}
		text += len(line)
		buf = append(buf, line...)
		n, sync, ok := literalSuffix(line)
		if !ok {
			return rawCommand(buf), nil
		}
		if n > int64(maxLiteral) || int64(len(buf))+n > int64(maxTotal) {
			if sync {
				// The client waits for our continuation, so nothing more of this command comes.
				return rawCommand(buf), errLiteralRejected
			}
			return rawCommand(buf), errLiteralTooLarge
		}
		if sync {
			if err := cont(); err != nil {
				return nil, err
			}
		}
		bb := bytes.NewBuffer(append(buf, '\r', '\n'))
		if _, err := io.CopyN(bb, r, n); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		buf = bb.Bytes()
	}
}

// readLine returns one line without its line ending (CRLF, or a bare LF some clients send).
// A line longer than limit is consumed up to its end and reported as errLineTooLong, with
// its first bytes returned so the caller can still find the tag.
func readLine(r *bufio.Reader, limit int) ([]byte, error) {
	const keep = 128
	var line []byte
	tooLong := false
	for {
		chunk, err := r.ReadSlice('\n')
		if !tooLong {
			if len(line)+len(chunk) > limit+2 {
				tooLong = true
				line = append(line, chunk...)
				line = line[:min(len(line), keep)]
			} else {
				line = append(line, chunk...)
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF && len(line) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		break
	}
	if tooLong {
		return line, errLineTooLong
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	return line, nil
}

// literalSuffix reports whether line ends with a literal announcement {n} or {n+}.
func literalSuffix(line []byte) (n int64, sync, ok bool) {
	if len(line) < 3 || line[len(line)-1] != '}' {
		return 0, false, false
	}
	open := bytes.LastIndexByte(line, '{')
	if open < 0 {
		return 0, false, false
	}
	digits := line[open+1 : len(line)-1]
	sync = true
	if len(digits) > 0 && digits[len(digits)-1] == '+' {
		sync = false
		digits = digits[:len(digits)-1]
	}
	if len(digits) == 0 || len(digits) > 10 {
		return 0, false, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false, false
		}
	}
	v, err := strconv.ParseInt(string(digits), 10, 64)
	if err != nil {
		return 0, false, false
	}
	return v, sync, true
}

// valueKind distinguishes the three shapes an IMAP argument takes.
type valueKind int

const (
	kindAtom   valueKind = iota // includes NIL, numbers, sequence sets and BODY[...]<...>
	kindString                  // quoted string or literal
	kindList                    // parenthesised list
)

type value struct {
	kind valueKind
	s    string
	list []value
}

// astring is the value as an IMAP astring (atom or string); lists are not.
func (v value) astring() (string, bool) {
	if v.kind == kindList {
		return "", false
	}
	return v.s, true
}

// command is a parsed command: tag, upper-cased name ("UID FETCH" for UID commands) and its
// arguments.
type command struct {
	tag  string
	name string
	args []value
}

// parseError is a syntax error; tag is set when the tag itself was readable.
type parseError struct {
	tag string
	msg string
}

func (e *parseError) Error() string { return e.msg }

// parseCommand tokenises a raw command. It never panics on any input (see FuzzParseCommand).
func parseCommand(raw rawCommand) (command, error) {
	p := &parser{b: raw}
	tag := p.atom(isTagChar)
	if tag == "" {
		return command{}, &parseError{msg: "missing tag"}
	}
	cmd := command{tag: tag}
	if !p.sp() {
		return cmd, &parseError{tag: tag, msg: "missing command"}
	}
	name := p.atom(isAtomChar)
	if name == "" {
		return cmd, &parseError{tag: tag, msg: "missing command"}
	}
	cmd.name = strings.ToUpper(name)
	if cmd.name == "UID" {
		if !p.sp() {
			return cmd, &parseError{tag: tag, msg: "UID needs a command"}
		}
		sub := p.atom(isAtomChar)
		if sub == "" {
			return cmd, &parseError{tag: tag, msg: "UID needs a command"}
		}
		cmd.name = "UID " + strings.ToUpper(sub)
	}
	for !p.eof() {
		if !p.sp() {
			return cmd, &parseError{tag: tag, msg: fmt.Sprintf("unexpected %q at %d", p.b[p.i], p.i)}
		}
		if p.eof() {
			break // tolerate a trailing space
		}
		v, err := p.value(0)
		if err != nil {
			return cmd, &parseError{tag: tag, msg: err.Error()}
		}
		cmd.args = append(cmd.args, v)
	}
	return cmd, nil
}

type parser struct {
	b []byte
	i int
}

const maxDepth = 16 // nested parentheses; deeper is certainly not a real client

func (p *parser) eof() bool { return p.i >= len(p.b) }

// sp consumes one or more spaces (lenient: RFC says one).
func (p *parser) sp() bool {
	if p.eof() || p.b[p.i] != ' ' {
		return false
	}
	for !p.eof() && p.b[p.i] == ' ' {
		p.i++
	}
	return true
}

func (p *parser) atom(ok func(byte) bool) string {
	start := p.i
	for !p.eof() && ok(p.b[p.i]) {
		p.i++
	}
	return string(p.b[start:p.i])
}

func (p *parser) value(depth int) (value, error) {
	if depth > maxDepth {
		return value{}, errors.New("lists nested too deeply")
	}
	switch c := p.b[p.i]; {
	case c == '(':
		p.i++
		v := value{kind: kindList, list: []value{}}
		for {
			if p.eof() {
				return value{}, errors.New("unterminated list")
			}
			if p.b[p.i] == ')' {
				p.i++
				return v, nil
			}
			if len(v.list) > 0 && !p.sp() {
				return value{}, fmt.Errorf("expected space or ) at %d", p.i)
			}
			if p.eof() {
				return value{}, errors.New("unterminated list")
			}
			if p.b[p.i] == ')' {
				continue
			}
			e, err := p.value(depth + 1)
			if err != nil {
				return value{}, err
			}
			v.list = append(v.list, e)
		}
	case c == '"':
		s, err := p.quoted()
		return value{kind: kindString, s: s}, err
	case c == '{' || (c == '~' && p.i+1 < len(p.b) && p.b[p.i+1] == '{'):
		s, err := p.literal()
		return value{kind: kindString, s: s}, err
	default:
		s, err := p.atomWithSection()
		if err != nil {
			return value{}, err
		}
		if s == "" {
			return value{}, fmt.Errorf("unexpected %q at %d", c, p.i)
		}
		return value{kind: kindAtom, s: s}, nil
	}
}

// atomWithSection reads an atom that may carry a [section] with spaces and parentheses inside
// and a <partial> after it, as FETCH items do: BODY.PEEK[HEADER.FIELDS (DATE FROM)]<0.512>.
func (p *parser) atomWithSection() (string, error) {
	start := p.i
	for !p.eof() {
		c := p.b[p.i]
		if c == '[' {
			if err := p.skipSection(); err != nil {
				return "", err
			}
			continue
		}
		if !isAtomChar(c) && c != ']' {
			break
		}
		p.i++
	}
	return string(p.b[start:p.i]), nil
}

// skipSection moves past a [section], which may hold quoted header names with "]" inside.
func (p *parser) skipSection() error {
	p.i++ // [
	for !p.eof() {
		c := p.b[p.i]
		switch {
		case c == ']':
			p.i++
			return nil
		case c == '"':
			if _, err := p.quoted(); err != nil {
				return err
			}
			continue
		case c < 0x20 || c >= 0x7f || c == '{' || c == '[':
			return errors.New("invalid character in section")
		}
		p.i++
	}
	return errors.New("unterminated [")
}

func (p *parser) quoted() (string, error) {
	p.i++ // opening quote
	var sb strings.Builder
	for !p.eof() {
		c := p.b[p.i]
		p.i++
		switch c {
		case '"':
			return sb.String(), nil
		case '\\':
			if p.eof() {
				return "", errors.New("unterminated quoted string")
			}
			e := p.b[p.i]
			if e != '"' && e != '\\' {
				return "", errors.New("invalid escape in quoted string")
			}
			sb.WriteByte(e)
			p.i++
		case '\r', '\n':
			return "", errors.New("line break in quoted string")
		default:
			sb.WriteByte(c)
		}
	}
	return "", errors.New("unterminated quoted string")
}

func (p *parser) literal() (string, error) {
	if p.b[p.i] == '~' {
		p.i++
	}
	close := bytes.IndexByte(p.b[p.i:], '}')
	if close < 0 {
		return "", errors.New("unterminated literal length")
	}
	n, _, ok := literalSuffix(p.b[p.i : p.i+close+1])
	if !ok {
		return "", errors.New("invalid literal length")
	}
	p.i += close + 1
	if !bytes.HasPrefix(p.b[p.i:], []byte("\r\n")) {
		return "", errors.New("literal must end its line")
	}
	p.i += 2
	if n > int64(len(p.b)-p.i) {
		return "", errors.New("literal shorter than announced")
	}
	s := string(p.b[p.i : p.i+int(n)])
	p.i += int(n)
	return s, nil
}

// isAtomChar: any CHAR except atom-specials ( ) { SP CTL % * " \ ]. We allow % and * (list
// wildcards and sequence sets) and \ (flags) because the grammar puts them in atoms too.
func isAtomChar(c byte) bool {
	if c <= 0x20 || c >= 0x7f {
		return false
	}
	switch c {
	case '(', ')', '{', '"', ']':
		return false
	}
	return true
}

func isTagChar(c byte) bool { return isAtomChar(c) && c != '+' && c != '[' }

// seqRange is lo:hi inclusive; 0 stands for "*" (the largest number in use).
type seqRange struct{ lo, hi uint32 }

type seqSet []seqRange

// parseSeqSet parses "1,3:5,7:*" style sets. "$" (SEARCHRES) is not supported.
func parseSeqSet(s string) (seqSet, error) {
	if s == "" {
		return nil, errors.New("empty sequence set")
	}
	var set seqSet
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, ":")
		a, err := parseSeqNum(lo)
		if err != nil {
			return nil, err
		}
		b := a
		if isRange {
			if b, err = parseSeqNum(hi); err != nil {
				return nil, err
			}
		}
		set = append(set, seqRange{a, b})
	}
	return set, nil
}

func parseSeqNum(s string) (uint32, error) {
	if s == "*" {
		return 0, nil
	}
	if s == "" || s[0] == '0' || len(s) > 10 {
		return 0, fmt.Errorf("invalid sequence number %q", s)
	}
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("invalid sequence number %q", s)
	}
	return uint32(v), nil
}

// contains reports whether n is in the set, with "*" meaning max. As RFC 3501 says, a:b
// equals b:a, and "*" matches max even when max is 0 for an empty mailbox (so nothing matches).
func (s seqSet) contains(n, max uint32) bool {
	for _, r := range s {
		lo, hi := r.lo, r.hi
		if lo == 0 {
			lo = max
		}
		if hi == 0 {
			hi = max
		}
		if lo > hi {
			lo, hi = hi, lo
		}
		if n >= lo && n <= hi {
			return true
		}
	}
	return false
}
