package crdt

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"testing/quick"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Small domains on purpose: collisions (equal timestamps, same ids) are where merges go wrong.
func randTS(r *rand.Rand) Timestamp {
	if r.IntN(5) == 0 {
		return Timestamp{}
	}
	return Timestamp{Wall: r.Int64N(4), Logical: uint32(r.IntN(3)), Node: []string{"a", "b", "c"}[r.IntN(3)]}
}

func randStr(r *rand.Rand) string { return []string{"", "x", "y", "z"}[r.IntN(4)] }

func randReg(r *rand.Rand) Register[string] { return Register[string]{V: randStr(r), TS: randTS(r)} }

func randMailbox(r *rand.Rand) Mailbox {
	m := Mailbox{
		Provisioned: randTS(r), Removed: randTS(r),
		DisplayName: randReg(r), Language: randReg(r), ActiveGreeting: randReg(r),
		MaxMessageSeconds: Register[int]{V: r.IntN(3), TS: randTS(r)},
		MaxMessages:       Register[int]{V: r.IntN(3), TS: randTS(r)},
		MWITarget:         randReg(r), Email: randReg(r), PINHash: randReg(r),
		UIDValidity: r.Int64N(3),
	}
	for range r.IntN(3) {
		if m.Shown == nil {
			m.Shown = map[string]Shown{}
		}
		m.Shown[[]string{"a/1", "a/2", "b/1"}[r.IntN(3)]] = Shown{Validity: uint32(r.IntN(2)), Last: randStr(r), Count: r.IntN(3), From: randStr(r), Tail: randStr(r)}
	}
	if r.IntN(2) == 0 {
		m.Greetings = map[string]Register[string]{}
		for range r.IntN(3) {
			m.Greetings[[]string{"busy", "name", "unavailable"}[r.IntN(3)]] = randReg(r)
		}
	}
	return m
}

func randMessage(r *rand.Rand) Message {
	m := Message{
		Heard:  Register[bool]{V: r.IntN(2) == 0, TS: randTS(r)},
		Folder: Register[string]{V: []string{"new", "saved"}[r.IntN(2)], TS: randTS(r)},
	}
	if r.IntN(4) == 0 {
		m.Deleted = randTS(r)
	}
	if r.IntN(3) == 0 {
		m.Placed = r.Int64N(3)
	}
	if r.IntN(2) == 0 {
		m.Flags = map[string]Register[bool]{}
		for range r.IntN(3) {
			m.Flags[[]string{`\Flagged`, `\Answered`, `\Draft`}[r.IntN(3)]] = Register[bool]{V: r.IntN(2) == 0, TS: randTS(r)}
		}
	}
	if r.IntN(3) > 0 {
		m.Info = &MessageInfo{Caller: randStr(r), Received: r.Int64N(3), DurationMs: r.Int64N(3), Size: r.Int64N(3), AudioRef: randStr(r), Deposited: randTS(r)}
	}
	return m
}

func randDoc(r *rand.Rand) Doc {
	d := Doc{Mailbox: randMailbox(r)}
	if n := r.IntN(4); n > 0 {
		d.Messages = map[string]Message{}
		for range n {
			d.Messages[fmt.Sprint(r.IntN(4))] = randMessage(r)
		}
	}
	if n := r.IntN(3); n > 0 {
		d.Locks = map[string]Lock{}
		for range n {
			d.Locks[[]string{"a", "b", "c"}[r.IntN(3)]] = Lock{Failures: r.IntN(3), LockedUntil: r.Int64N(3), TS: randTS(r)}
		}
	}
	return d
}

// lattice checks the three semilattice laws for one type.
func lattice[T any](t *testing.T, name string, gen func(*rand.Rand) T, merge func(a, b T) T, eq func(a, b T) bool) {
	t.Run(name, func(t *testing.T) {
		cfg := &quick.Config{MaxCount: 3000}
		law := func(f func(a, b, c T) bool) func(uint64) bool {
			return func(seed uint64) bool {
				r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
				return f(gen(r), gen(r), gen(r))
			}
		}
		assert.NoError(t, quick.Check(law(func(a, b, _ T) bool { return eq(merge(a, b), merge(b, a)) }), cfg), "commutative")
		assert.NoError(t, quick.Check(law(func(a, b, c T) bool { return eq(merge(merge(a, b), c), merge(a, merge(b, c))) }), cfg), "associative")
		assert.NoError(t, quick.Check(law(func(a, _, _ T) bool { return eq(merge(a, a), a) }), cfg), "idempotent")
		assert.NoError(t, quick.Check(law(func(a, b, _ T) bool { ab := merge(a, b); return eq(merge(ab, b), ab) }), cfg), "absorbs what it merged")
	})
}

func TestMergeLaws(t *testing.T) {
	lattice(t, "Register", randReg, Register[string].Merge, func(a, b Register[string]) bool { return a == b })
	lattice(t, "Mailbox", randMailbox, Mailbox.Merge, Mailbox.Equal)
	lattice(t, "Message", randMessage, Message.Merge, Message.Equal)
	lattice(t, "Lock", func(r *rand.Rand) Lock { return Lock{Failures: r.IntN(3), LockedUntil: r.Int64N(3), TS: randTS(r)} }, Lock.Merge, func(a, b Lock) bool { return a == b })
	lattice(t, "Doc", randDoc, Doc.Merge, Doc.Equal)
}

// Flags set in different regions each survive the merge; the same flag set and cleared
// concurrently resolves the same way in every replica (the later write).
func TestClientFlagsMergePerFlag(t *testing.T) {
	ts := func(w int64, n string) Timestamp { return Timestamp{Wall: w, Node: n} }
	east := Message{Flags: map[string]Register[bool]{`\Flagged`: {V: true, TS: ts(5, "east")}}}
	west := Message{Flags: map[string]Register[bool]{
		`\Answered`: {V: true, TS: ts(6, "west")},
		`\Flagged`:  {V: false, TS: ts(4, "west")},
	}}
	for _, got := range []Message{east.Merge(west), west.Merge(east)} {
		assert.True(t, got.Flags[`\Flagged`].V, "the later set wins over the earlier clear")
		assert.True(t, got.Flags[`\Answered`].V, "a flag set elsewhere is kept")
		assert.Equal(t, ts(6, "west"), got.Latest())
	}
}

func TestTombstoneWins(t *testing.T) {
	deposit := Message{Info: &MessageInfo{Caller: "x", Deposited: Timestamp{Wall: 1, Node: "a"}}}
	deleted := Message{Deleted: Timestamp{Wall: 2, Node: "b"}}
	laterFlags := Message{Heard: Register[bool]{V: true, TS: Timestamp{Wall: 9, Node: "c"}}, Folder: Register[string]{V: "saved", TS: Timestamp{Wall: 9, Node: "c"}}}
	got := deposit.Merge(laterFlags).Merge(deleted)
	assert.True(t, got.Tombstoned())
	d := Doc{Mailbox: Mailbox{Provisioned: Timestamp{Wall: 1}}, Messages: map[string]Message{"m": got}}
	assert.False(t, d.Visible("m"), "a flag change after the delete does not resurrect it")

	// Removing the mailbox hides messages deposited before; re-provisioning starts empty.
	d = Doc{Mailbox: Mailbox{Provisioned: Timestamp{Wall: 1}, Removed: Timestamp{Wall: 3}}, Messages: map[string]Message{"m": deposit}}
	assert.False(t, d.Mailbox.Exists())
	d.Mailbox = d.Mailbox.Merge(Mailbox{Provisioned: Timestamp{Wall: 4}})
	assert.True(t, d.Mailbox.Exists())
	assert.Empty(t, d.VisibleIDs())
}

func TestClock(t *testing.T) {
	now := time.UnixMilli(1000)
	c := NewClock("a", func() time.Time { return now })
	t1 := c.Now()
	t2 := c.Now()
	require.True(t, t2.After(t1), "same millisecond still advances")
	c.Observe(Timestamp{Wall: 5000, Logical: 7, Node: "b"}) // a peer whose clock runs ahead
	t3 := c.Now()
	assert.True(t, t3.After(Timestamp{Wall: 5000, Logical: 7, Node: "b"}), "writes after observing order after the observed write")
	now = time.UnixMilli(6000)
	assert.Equal(t, Timestamp{Wall: 6000, Node: "a"}, c.Now())
}

// region simulates one region: its own rows (one per entity) written only by itself, plus
// whatever rows of other regions have reached it.
type region struct {
	name  string
	clock *Clock
	own   Doc            // this region's rows
	seen  map[string]Doc // latest copy of each other region's rows received
}

func (g *region) view() Doc {
	d := g.own
	for _, o := range g.seen {
		d = d.Merge(o)
	}
	return d
}

// apply performs one random user operation in this region, reading the merged view like the
// service does and writing only its own rows.
func (g *region) apply(r *rand.Rand, step int) {
	v := g.view()
	ts := g.clock.Now()
	ids := v.VisibleIDs()
	switch op := r.IntN(8); {
	case op == 0:
		g.own.Mailbox.Provisioned = Max(g.own.Mailbox.Provisioned, ts)
	case op == 1 && r.IntN(4) == 0:
		g.own.Mailbox.Removed = Max(g.own.Mailbox.Removed, ts)
	case op == 2:
		g.own.Mailbox.DisplayName.Set(fmt.Sprintf("%s-%d", g.name, step), ts)
		g.own.Mailbox.MaxMessages.Set(r.IntN(100), ts)
	case op == 3 && len(ids) > 0:
		id := ids[r.IntN(len(ids))]
		m := g.own.Messages[id]
		m.Heard.Set(r.IntN(2) == 0, ts)
		g.own.Messages[id] = m
	case op == 4 && len(ids) > 0:
		id := ids[r.IntN(len(ids))]
		m := g.own.Messages[id]
		m.Folder.Set([]string{"new", "saved"}[r.IntN(2)], ts)
		g.own.Messages[id] = m
	case op == 5 && len(ids) > 0:
		id := ids[r.IntN(len(ids))]
		m := g.own.Messages[id]
		m.Deleted = Max(m.Deleted, ts)
		g.own.Messages[id] = m
	default:
		id := fmt.Sprintf("%013d-%s-%d", ts.Wall, g.name, step)
		g.own.Messages[id] = Message{Info: &MessageInfo{Caller: g.name, Received: ts.Wall, AudioRef: id, Deposited: ts}}
	}
}

func TestThreeRegionsConverge(t *testing.T) {
	for seed := range uint64(200) {
		r := rand.New(rand.NewPCG(seed, 42))
		// Skewed clocks: each region's wall clock is offset and advances at its own pace.
		var regions []*region
		for i, name := range []string{"east", "west", "north"} {
			wall := int64(1_000_000 + r.IntN(50))
			step := int64(i + 1)
			regions = append(regions, &region{
				name: name,
				clock: NewClock(name, func() time.Time {
					wall += r.Int64N(step + 1)
					return time.UnixMilli(wall)
				}),
				own:  Doc{Messages: map[string]Message{}},
				seen: map[string]Doc{},
			})
		}
		var sent []struct {
			to   int
			from string
			doc  Doc
		}
		for step := range 60 {
			g := regions[r.IntN(3)]
			g.apply(r, step)
			// Replicate a snapshot of some region's rows to another, possibly delivered late.
			if r.IntN(2) == 0 {
				from := regions[r.IntN(3)]
				sent = append(sent, struct {
					to   int
					from string
					doc  Doc
				}{r.IntN(3), from.name, from.own.Merge(Doc{})})
			}
			if len(sent) > 0 && r.IntN(2) == 0 {
				i := r.IntN(len(sent))
				m := sent[i]
				sent = append(sent[:i], sent[i+1:]...)
				if dst := regions[m.to]; dst.name != m.from {
					dst.seen[m.from] = dst.seen[m.from].Merge(m.doc) // rows only grow: merge, never overwrite
				}
			}
		}
		// Heal: every region's final rows reach every other region, in a random order, with
		// stale snapshots still arriving after newer ones.
		finals := make([]Doc, 3)
		for i, g := range regions {
			finals[i] = g.own
		}
		for _, i := range r.Perm(3) {
			dst := regions[i]
			for _, j := range r.Perm(3) {
				if i != j {
					dst.seen[regions[j].name] = dst.seen[regions[j].name].Merge(finals[j])
				}
			}
			for _, m := range sent {
				if dst := regions[m.to]; dst.name != m.from {
					dst.seen[m.from] = dst.seen[m.from].Merge(m.doc)
				}
			}
		}
		want := regions[0].view()
		for _, g := range regions[1:] {
			require.True(t, want.Equal(g.view()), "seed %d: %s diverges from %s", seed, g.name, regions[0].name)
		}
		assert.Equal(t, want.VisibleIDs(), regions[2].view().VisibleIDs())
	}
}

// Message rows leave unset fields out; rows written before that (every field present, zero
// ones included) decode to the same state, and the compact form round-trips.
func TestMessageRowsOldAndCompact(t *testing.T) {
	old := `{"i":{"c":"+4917","r":1700000000000,"d":30000,"s":480044,"a":"audio/100/x.wav","dt":{"w":1700000000001,"n":"west"}},` +
		`"h":{"v":false,"t":{}},"f":{"v":"","t":{}},"x":{}}`
	var fromOld Message
	require.NoError(t, json.Unmarshal([]byte(old), &fromOld))
	compact, err := json.Marshal(fromOld)
	require.NoError(t, err)
	assert.NotContains(t, string(compact), `"h"`)
	assert.NotContains(t, string(compact), `"x"`)
	var back Message
	require.NoError(t, json.Unmarshal(compact, &back))
	assert.True(t, fromOld.Equal(back))

	set := Message{Info: fromOld.Info, Heard: Register[bool]{V: true, TS: Timestamp{Wall: 5, Node: "a"}}, Deleted: Timestamp{Wall: 6, Node: "b"}}
	b, err := json.Marshal(set)
	require.NoError(t, err)
	var got Message
	require.NoError(t, json.Unmarshal(b, &got))
	assert.True(t, set.Equal(got), "set fields are kept")
}
