package voicemail

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/crdt"
)

// rewrite keeps what a row holds beyond its type (members it has no field for, and what is
// inside values the update leaves), and nothing else: a row holding nothing more is encoded
// exactly as json.Marshal encodes the type.
func TestRewriteKeepsUnknownKeys(t *testing.T) {
	ts := crdt.Timestamp{Wall: 1796000000000, Node: "weu"}
	heard := func(m *crdt.Message) error { m.Heard.Set(true, ts); return nil }
	unflag := func(m *crdt.Message) error { delete(m.Flags, `\Flagged`); return nil }
	noop := func(*crdt.Message) error { return nil }
	cases := []struct {
		name     string
		cur      string
		fn       func(*crdt.Message) error
		want     string
		wantSame bool // the output is json.Marshal of the decoded, updated struct, byte for byte
	}{
		{name: "absent row", cur: "", fn: heard, want: `{"h":{"v":true,"t":{"w":1796000000000,"n":"weu"}}}`, wantSame: true},
		{name: "no unknown key", cur: `{"f":{"v":"saved","t":{"w":1,"n":"weu"}}}`, fn: heard, wantSame: true,
			want: `{"h":{"v":true,"t":{"w":1796000000000,"n":"weu"}},"f":{"v":"saved","t":{"w":1,"n":"weu"}}}`},
		{name: "unknown members kept as stored, in their order, after known ones", fn: heard,
			cur:  `{"zz":{"a":[1,"x y"]},"h":{"v":false,"t":{"w":1,"n":"weu"}},"y":"s"}`,
			want: `{"h":{"v":true,"t":{"w":1796000000000,"n":"weu"}},"zz":{"a":[1,"x y"]},"y":"s"}`},
		{name: "spaces, escapes, brackets in strings, literals", fn: heard,
			cur: ` { "zz" : {"a":[1,"x} y\"]"]} , "\u0068":{"v":false,"t":{"w":1,"n":"weu"}},` +
				`"y":-1.5e3,"n":null, "z\"q" :true } `,
			want: `{"h":{"v":true,"t":{"w":1796000000000,"n":"weu"}},"zz":{"a":[1,"x} y\"]"]},"y":-1.5e3,"n":null,"z\"q":true}`},
		{name: "a value the update leaves keeps what it holds beyond its type", fn: heard,
			cur:  `{"i":{"c":"+49","r":1,"d":2,"s":3,"a":"a.wav","dt":{"w":1,"n":"weu"},"zz":[1]},"h":{"v":false,"t":{"w":1,"n":"weu"}}}`,
			want: `{"i":{"c":"+49","r":1,"d":2,"s":3,"a":"a.wav","dt":{"w":1,"n":"weu"},"zz":[1]},"h":{"v":true,"t":{"w":1796000000000,"n":"weu"}}}`},
		{name: "a value the update changes is its new encoding", fn: heard,
			cur:  `{"h":{"v":false,"t":{"w":1,"n":"weu"},"zz":1}}`,
			want: `{"h":{"v":true,"t":{"w":1796000000000,"n":"weu"}}}`},
		{name: "map entries: unchanged ones keep what they hold, removed ones stay removed", fn: unflag,
			cur:  `{"fl":{"\\Answered":{"v":true,"t":{"w":1,"n":"weu"},"zz":1},"\\Flagged":{"v":true,"t":{"w":1,"n":"weu"},"zz":2}}}`,
			want: `{"fl":{"\\Answered":{"v":true,"t":{"w":1,"n":"weu"},"zz":1}}}`},
		{name: "only unknown keys", cur: `{"zz":1}`, fn: noop, want: `{"zz":1}`},
		{name: "a known field emptied is not brought back", fn: unflag,
			cur:  `{"fl":{"\\Flagged":{"v":true,"t":{"w":1,"n":"weu"}}},"zz":1}`,
			want: `{"zz":1}`},
		{name: "a known key in other case is the field's", cur: `{"H":{"v":true,"t":{"w":1,"n":"weu"}}}`, fn: noop,
			want: `{"h":{"v":true,"t":{"w":1,"n":"weu"}}}`, wantSame: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var cur []byte
			if c.cur != "" {
				cur = []byte(c.cur)
			}
			got, err := rewrite("m:1", cur, c.fn)
			require.NoError(t, err)
			assert.Equal(t, c.want, string(got))
			var m crdt.Message
			require.NoError(t, json.Unmarshal(got, &m), "an older reader decodes it into its struct")
			if c.wantSame {
				plain, err := json.Marshal(m)
				require.NoError(t, err)
				assert.Equal(t, string(plain), string(got))
			}
		})
	}
}

// Each writer's entry of the mailbox row's IMAP records keeps what a newer release added to it
// while another writer's entry changes.
func TestRewriteKeepsNewerFieldsOfUnchangedEntries(t *testing.T) {
	cur := `{"prov":{"w":1,"n":"weu"},"shown":{"neu/1":{"v":7,"l":"b","c":2,"zz":{"a":1}},"weu/1":{"v":7,"l":"a","c":1,"zz":3}},"zy":true}`
	got, err := rewrite("box", []byte(cur), func(m *crdt.Mailbox) error {
		m.Shown["weu/1"] = crdt.Shown{Validity: 7, Last: "c", Count: 3}
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, `{"prov":{"w":1,"n":"weu"},"rm":{},"dn":{"v":"","t":{}},"lang":{"v":"","t":{}},"ag":{"v":"","t":{}},`+
		`"mms":{"v":0,"t":{}},"mm":{"v":0,"t":{}},"mwi":{"v":"","t":{}},"email":{"v":"","t":{}},"pin":{"v":"","t":{}},`+
		`"shown":{"neu/1":{"v":7,"l":"b","c":2,"zz":{"a":1}},"weu/1":{"v":7,"l":"c","c":3}},"zy":true}`, string(got))
}

// A row whose type is a map holds entries: an entry the update removes stays removed.
func TestRewriteMapRowHasNoUnknownKeys(t *testing.T) {
	got, err := rewrite("admit", []byte(`{"a":1,"b":2}`), func(m *map[string]int64) error { delete(*m, "a"); return nil })
	require.NoError(t, err)
	assert.JSONEq(t, `{"b":2}`, string(got))
}

// BenchmarkRowRewrite compares update's encoding step with the plain decode/encode round trip
// it replaced, on a mailbox row with four IMAP views. The arms alternate within each iteration,
// so all see the same machine load; it reports each arm's time per call and its ratio to plain,
// over all calls and over each arm's fastest block:
//
//	go test -run '^$' -bench RowRewrite -benchmem ./app/internal/voicemail
func BenchmarkRowRewrite(b *testing.B) {
	ts := crdt.Timestamp{Wall: 1796000000000, Node: "weu"}
	var box crdt.Mailbox
	box.Provisioned = ts
	for _, r := range []*crdt.Register[string]{&box.DisplayName, &box.Language, &box.ActiveGreeting, &box.MWITarget, &box.Email, &box.PINHash} {
		r.Set("some value of a typical length", ts)
	}
	box.MaxMessages.Set(100, ts)
	box.MaxMessageSeconds.Set(180, ts)
	box.Greetings = map[string]crdt.Register[string]{"busy": {V: "greetings/4930/busy.wav", TS: ts}}
	box.UIDValidity = 1796000000
	box.Shown = map[string]crdt.Shown{}
	for _, w := range []string{"weu/1", "weu/2", "neu/1", "neu/2"} {
		box.Shown[w] = crdt.Shown{Validity: 1796000000, Last: "1796000000000-weu-0123456789abcdef", Count: 42}
	}
	row, err := json.Marshal(box)
	require.NoError(b, err)
	var withNew map[string]json.RawMessage
	require.NoError(b, json.Unmarshal(row, &withNew))
	withNew["zz"] = json.RawMessage(`{"a":1}`)
	newer, err := json.Marshal(withNew)
	require.NoError(b, err)
	rename := func(m *crdt.Mailbox) error {
		m.DisplayName.Set("renamed", crdt.Timestamp{Wall: ts.Wall + 1, Node: "weu"})
		return nil
	}

	arms := []func() error{
		func() error { // the round trip without keeping unknown keys
			var v crdt.Mailbox
			if err := json.Unmarshal(row, &v); err != nil {
				return err
			}
			_ = rename(&v)
			_, err := json.Marshal(v)
			return err
		},
		func() error { _, err := rewrite("box", row, rename); return err },
		func() error { _, err := rewrite("box", newer, rename); return err }, // a newer release's row
	}
	// Blocks of ten calls per arm, taking turns; on a loaded machine the fastest block of each
	// arm is the steadier figure.
	const block = 10
	took := make([]time.Duration, len(arms))
	best := make([]time.Duration, len(arms))
	for b.Loop() {
		for a, arm := range arms {
			t0 := time.Now()
			for range block {
				if err := arm(); err != nil {
					b.Fatal(err)
				}
			}
			d := time.Since(t0)
			took[a] += d
			if best[a] == 0 || d < best[a] {
				best[a] = d
			}
		}
	}
	n := float64(b.N * block)
	for a, name := range []string{"plain", "rewrite", "newer-row"} {
		b.ReportMetric(float64(took[a])/n, name+"-ns/op")
		if a > 0 {
			b.ReportMetric(float64(took[a])/float64(took[0]), name+"/plain")
			b.ReportMetric(float64(best[a])/float64(best[0]), name+"/plain-best")
		}
	}
}

// Whatever object a row holds, rewrite's output is valid JSON that decodes as json.Marshal's
// encoding does, and carries exactly the stored members the type has no field for.
func FuzzRewrite(f *testing.F) {
	for _, seed := range []string{`{}`, `{"zz":1}`, ` {"h":{"v":true} , "y" : [ {"}":"]"} ] }`,
		`{"i":{"c":"+49","dt":{"w":1}},"x\u00e9":"\"","fl":{}, "H":null}`,
		`{"i":{"c":"+49","zz":[{}]},"fl":{"a":{"v":true,"q":1},"b":null},"h":{"v":true,"t":{"w":1,"q":[]}}}`} {
		f.Add([]byte(seed))
	}
	change := func(m *crdt.Message) error {
		m.Heard.Set(!m.Heard.V, crdt.Timestamp{Wall: m.Heard.TS.Wall + 1})
		delete(m.Flags, "a")
		return nil
	}
	known := jsonFields(reflect.TypeFor[crdt.Message](), nil)
	f.Fuzz(func(t *testing.T, cur []byte) {
		var members map[string]json.RawMessage
		if json.Unmarshal(cur, &crdt.Message{}) != nil || json.Unmarshal(cur, &members) != nil || members == nil {
			return
		}
		for _, fn := range []func(*crdt.Message) error{func(*crdt.Message) error { return nil }, change} {
			var want crdt.Message
			require.NoError(t, json.Unmarshal(cur, &want))
			require.NoError(t, fn(&want))
			got, err := rewrite("m:1", cur, fn)
			require.NoError(t, err)
			var m crdt.Message
			require.NoError(t, json.Unmarshal(got, &m), "%s", got)
			plain, _ := json.Marshal(want)
			again, _ := json.Marshal(m)
			assert.Equal(t, string(plain), string(again), "%s", got)
			var gotMembers map[string]json.RawMessage
			require.NoError(t, json.Unmarshal(got, &gotMembers))
			for k, v := range members {
				if !slices.ContainsFunc(known, func(f jsonField) bool { return strings.EqualFold(f.name, k) }) {
					assert.JSONEq(t, string(v), string(gotMembers[k]), "member %q of %s", k, cur)
				}
			}
		}
	})
}
