package imap

import (
	"bufio"
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func atom(s string) value    { return value{kind: kindAtom, s: s} }
func str(s string) value     { return value{kind: kindString, s: s} }
func list(vs ...value) value { return value{kind: kindList, list: append([]value{}, vs...)} }
func read(t *testing.T, in string) (rawCommand, error, int) {
	t.Helper()
	conts := 0
	raw, err := readCommand(bufio.NewReaderSize(strings.NewReader(in), 16), 200, 100, 1<<20, func() error { conts++; return nil })
	return raw, err, conts
}

func TestParseCommand(t *testing.T) {
	tests := []struct {
		in   string
		want command
	}{
		{"a1 CAPABILITY", command{tag: "a1", name: "CAPABILITY"}},
		{"a2 login 5551234 \"12 \\\"34\"", command{tag: "a2", name: "LOGIN", args: []value{atom("5551234"), str(`12 "34`)}}},
		{"a3 uid fetch 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (DATE FROM)]<0.100>)", command{tag: "a3", name: "UID FETCH",
			args: []value{atom("1:*"), list(atom("FLAGS"), atom("BODY.PEEK[HEADER.FIELDS (DATE FROM)]<0.100>"))}}},
		{"a4 UID STORE 7 +FLAGS.SILENT (\\Seen \\Deleted)", command{tag: "a4", name: "UID STORE",
			args: []value{atom("7"), atom("+FLAGS.SILENT"), list(atom(`\Seen`), atom(`\Deleted`))}}},
		{"a5 LOGIN {3}\r\nabc {4+}\r\n1234", command{tag: "a5", name: "LOGIN", args: []value{str("abc"), str("1234")}}},
		{"a6 LIST \"\" *", command{tag: "a6", name: "LIST", args: []value{str(""), atom("*")}}},
		{"a7 SEARCH NOT (DELETED SEEN) ()", command{tag: "a7", name: "SEARCH", args: []value{atom("NOT"), list(atom("DELETED"), atom("SEEN")), list()}}},
		{"a8 XCHANGE_TUI_PWD PWD=1234 OLD_PWD=5678", command{tag: "a8", name: "XCHANGE_TUI_PWD", args: []value{atom("PWD=1234"), atom("OLD_PWD=5678")}}},
		{"a9 FETCH 1 BODY[]", command{tag: "a9", name: "FETCH", args: []value{atom("1"), atom("BODY[]")}}},
		{`b1 FETCH 1 (BODY.PEEK[HEADER.FIELDS ("A]" B)])`, command{tag: "b1", name: "FETCH",
			args: []value{atom("1"), list(atom(`BODY.PEEK[HEADER.FIELDS ("A]" B)]`))}}},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseCommand(rawCommand(tc.in))
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestParseCommandErrors(t *testing.T) {
	tests := []struct{ in, tag string }{
		{"", ""},
		{"+ x", ""},
		{"a1", "a1"},
		{"a1 LOGIN \"unterminated", "a1"},
		{"a1 FETCH 1 (FLAGS", "a1"},
		{"a1 FETCH 1 FLAGS)", "a1"},
		{"a1 LOGIN {5}\r\nab", "a1"},
		{"a1 LOGIN {x}", "a1"},
		{"a1 FETCH 1 BODY[HEADER", "a1"},
		{"a1 X \"bad\\escape\"", "a1"},
		{"a1 X " + strings.Repeat("(", 40), "a1"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			_, err := parseCommand(rawCommand(tc.in))
			var pe *parseError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, tc.tag, pe.tag)
		})
	}
}

func TestReadCommandLiterals(t *testing.T) {
	raw, err, conts := read(t, "a1 LOGIN {3}\r\nabc {4+}\r\n1234\r\na2 NOOP\r\n")
	require.NoError(t, err)
	assert.Equal(t, 1, conts, "only the synchronising literal gets a continuation")
	cmd, err := parseCommand(raw)
	require.NoError(t, err)
	assert.Equal(t, []value{str("abc"), str("1234")}, cmd.args)

	// Literal bytes may contain CRLF and braces without confusing the reader.
	raw, err, _ = read(t, "a1 APPEND Greetings {10}\r\n{1}\r\n\r\nxyz\r\n")
	require.NoError(t, err)
	cmd, err = parseCommand(raw)
	require.NoError(t, err)
	assert.Equal(t, str("{1}\r\n\r\nxyz"), cmd.args[1])
}

func TestReadCommandLimits(t *testing.T) {
	r := bufio.NewReaderSize(strings.NewReader("a1 NOOP "+strings.Repeat("x", 500)+"\r\na2 NOOP\r\n"), 16)
	noCont := func() error { t.Fatal("no continuation expected"); return nil }
	_, err := readCommand(r, 200, 100, 1<<20, noCont)
	assert.ErrorIs(t, err, errLineTooLong)
	raw, err := readCommand(r, 200, 100, 1<<20, noCont)
	require.NoError(t, err, "the next command is read normally")
	assert.Equal(t, "a2 NOOP", string(raw))

	r = bufio.NewReader(strings.NewReader("a1 APPEND x {1000}\r\na2 NOOP\r\n"))
	raw, err = readCommand(r, 200, 100, 1<<20, noCont)
	assert.ErrorIs(t, err, errLiteralRejected)
	assert.Equal(t, "a1 APPEND x {1000}", string(raw))
	raw, err = readCommand(r, 200, 100, 1<<20, noCont)
	require.NoError(t, err)
	assert.Equal(t, "a2 NOOP", string(raw))

	r = bufio.NewReader(strings.NewReader("a1 APPEND x {1000+}\r\n"))
	_, err = readCommand(r, 200, 100, 1<<20, noCont)
	assert.ErrorIs(t, err, errLiteralTooLarge)
}

func TestSeqSet(t *testing.T) {
	set, err := parseSeqSet("1,3:5,9:*")
	require.NoError(t, err)
	var got []uint32
	for n := uint32(1); n <= 12; n++ {
		if set.contains(n, 12) {
			got = append(got, n)
		}
	}
	assert.Equal(t, []uint32{1, 3, 4, 5, 9, 10, 11, 12}, got)

	rev, err := parseSeqSet("*:10")
	require.NoError(t, err)
	assert.True(t, rev.contains(11, 12))
	assert.False(t, rev.contains(9, 12))

	for _, bad := range []string{"", "0", "1:", "a", "1,,2", "4294967296", "01"} {
		_, err := parseSeqSet(bad)
		assert.Error(t, err, bad)
	}
}

func TestListMatch(t *testing.T) {
	assert.True(t, listMatch("*", "INBOX"))
	assert.True(t, listMatch("inbox", "INBOX"))
	assert.True(t, listMatch("%", "Greetings"))
	assert.True(t, listMatch("G*s", "Greetings"))
	assert.False(t, listMatch("greetings", "Greetings"), "only INBOX is case-insensitive")
	assert.False(t, listMatch("I", "INBOX"))
}

// FuzzParseCommand feeds arbitrary bytes through the reader and the parser: they must never
// panic, and whatever parses has a tag and a command name.
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{
		"a1 LOGIN user pass\r\n",
		"a2 UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (DATE FROM)]<0.10>)\r\n",
		"a3 APPEND Greetings (\\Seen) {5+}\r\nhello\r\n",
		"a4 SEARCH OR (SEEN) NOT DELETED UID 1,2:*\r\n",
		"a5 XCHANGE_TUI_PWD PWD=1234 OLD_PWD=5678\r\n",
		"a6 LOGIN \"a\\\"b\" {2}\r\nxy\r\n",
		"* ) ( ] [ {\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReaderSize(bytes.NewReader(data), 16)
		for i := 0; i < 8; i++ {
			raw, err := readCommand(r, 1024, 1024, 1<<20, func() error { return nil })
			if err != nil && raw == nil {
				return
			}
			cmd, perr := parseCommand(raw)
			if perr == nil {
				if cmd.tag == "" || cmd.name == "" {
					t.Fatalf("parsed %q without tag or name", raw)
				}
				for _, a := range cmd.args {
					if a.kind == kindAtom && a.s == "" {
						t.Fatalf("empty atom from %q", raw)
					}
				}
				if len(cmd.args) >= 2 {
					parseFetchItems(cmd.args[1])
					parseSeqSet(cmd.args[0].s)
				}
			}
			if err != nil {
				return
			}
		}
	})
}
