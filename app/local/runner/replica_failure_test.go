package runner

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/audio"
	"github.com/voicemail-platform/voicemail/app/internal/sip/sipptest"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
)

// The replica cases: a stamp is two voicemail replicas behind its Kamailio dispatcher and
// HAProxy, as in a cluster; a fault hits one replica, the stamp goes on with the other.

var callers struct {
	sync.Mutex
	n int
}

// newCaller is a caller number no other call of the run uses.
func newCaller() string {
	callers.Lock()
	defer callers.Unlock()
	callers.n++
	return fmt.Sprintf("5558%06d", (time.Now().UnixMilli()/10+int64(callers.n))%1000000)
}

// callOn waits until one of sp's replicas logs the deposit call from caller and returns it.
func (f *fixture) callOn(t *testing.T, sp *StampProc, caller string) *Replica {
	t.Helper()
	var on *Replica
	f.eventually(t, 20*time.Second, "a replica answers the call from "+caller, func() error {
		for _, r := range sp.Replicas {
			if hasCall(r, caller) {
				on = r
				return nil
			}
		}
		return fmt.Errorf("no replica of %s logged it", sp.Stamp.ID)
	})
	return on
}

// hasCall reports whether r logged a deposit call from caller.
func hasCall(r *Replica, caller string) bool {
	for _, line := range strings.Split(r.Log(), "\n") {
		if strings.Contains(line, `"msg":"deposit call"`) && strings.Contains(line, caller) {
			return true
		}
	}
	return false
}

// stored waits until mailbox holds a message from caller in every region and returns it.
func (f *fixture) stored(t *testing.T, mailbox, caller string) voicemail.Message {
	t.Helper()
	var msg voicemail.Message
	f.eventually(t, 20*time.Second, "the message from "+caller+" is stored", func() error {
		for _, r := range f.c.Regions {
			msgs, err := f.regionService(r).Messages(context.Background(), mailbox, "")
			if err != nil {
				return err
			}
			i := slices.IndexFunc(msgs, func(m voicemail.Message) bool { return strings.Contains(m.Caller, caller) })
			if i < 0 {
				return fmt.Errorf("no message from %s in %s/%s", caller, r.Name, mailbox)
			}
			msg = msgs[i]
		}
		return nil
	})
	return msg
}

// activeExactly waits until sp's dispatcher sends new dialogs to want and no other replica.
func (f *fixture) activeExactly(t *testing.T, sp *StampProc, want ...*Replica) time.Duration {
	t.Helper()
	return f.eventually(t, 10*time.Second, "dispatcher rotation", func() error {
		active, err := sp.ActiveReplicas(context.Background())
		if err != nil {
			return err
		}
		if !slices.Equal(active, want) {
			var names []string
			for _, r := range active {
				names = append(names, r.Name)
			}
			return fmt.Errorf("active %v", names)
		}
		return nil
	})
}

// optionsCode sends one OPTIONS to addr over UDP and returns the answer's status (0: none).
func optionsCode(addr string) int {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return 0
	}
	defer conn.Close()
	id := strconv.FormatInt(time.Now().UnixNano(), 36)
	msg := fmt.Sprintf("OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-%s;rport\r\nFrom: <sip:probe@127.0.0.1>;tag=1\r\nTo: <sip:%s>\r\nCall-ID: %s@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
		addr, conn.LocalAddr(), id, addr, id)
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return 0
	}
	_, _ = conn.WriteToUDP([]byte(msg), ua)
	_ = conn.SetReadDeadline(time.Now().Add(4 * time.Second))
	buf := make([]byte, 4096)
	n, _, err := conn.ReadFromUDP(buf)
	if err != nil {
		return 0
	}
	var code int
	_, _ = fmt.Sscanf(string(buf[:n]), "SIP/2.0 %d", &code)
	return code
}

// other is the replica of sp that is not r.
func other(sp *StampProc, r *Replica) *Replica {
	for _, x := range sp.Replicas {
		if x != r {
			return x
		}
	}
	return nil
}

// replicaCases run after the stamp cases of the one-region suite, under the same load.
func replicaCases(t *testing.T, f *fixture) {
	c := f.c
	z := c.Stamps[0]
	require.Len(t, z.Replicas, 2)
	require.True(t, f.load.sip, "the replica cases need SIP")
	ctx := context.Background()
	for _, mb := range f.mailboxes {
		f.putGreeting(t, mb) // short, so a call records soon after it is answered
	}

	t.Run("7-drain-replica-calls-finish", func(t *testing.T) {
		// A call is in progress when its replica is told to stop (a rollout's SIGTERM).
		caller, pcap := newCaller(), sipptest.TonePcap(t, 500)
		inProgress := make(chan error, 1)
		go func() { inProgress <- sippCall(t, z.SIP, f.mailboxes[2], caller, pcap, 4*time.Second) }()
		r := f.callOn(t, z, caller)
		survivor := other(z, r)
		defer func() { require.NoError(t, z.Start(ctx)) }()

		fault := time.Now()
		require.NoError(t, r.Signal(syscall.SIGTERM))
		f.eventually(t, 5*time.Second, "the draining replica answers OPTIONS 503", func() error {
			if code := optionsCode(r.SIP); code != 503 {
				return fmt.Errorf("OPTIONS %d", code)
			}
			return nil
		})
		left := f.activeExactly(t, z, survivor)
		// A new call reaches the stamp's other replica only.
		caller2 := newCaller()
		require.NoError(t, sippCall(t, z.SIP, f.mailboxes[3], caller2, "/usr/share/sip-tester/g711a.pcap", time.Second))
		assert.True(t, hasCall(survivor, caller2), "the new call went to the replica in rotation")
		assert.False(t, hasCall(r, caller2), "no new call reaches the draining replica")

		// The call in progress runs to its end on the draining replica and is stored.
		require.NoError(t, <-inProgress, "the call in progress finishes normally")
		msg := f.stored(t, f.mailboxes[2], caller)
		exited, err := r.Wait(20 * time.Second)
		require.True(t, exited, "the replica exits once its call has ended")
		assert.NoError(t, err, "clean exit")
		assert.Contains(t, r.Log(), `"msg":"sip drained"`, "its calls ended before the drain timeout")
		assert.NotContains(t, r.Log(), "sip drain timeout")
		end := time.Now()

		w := f.load.window(fault, end)
		require.NoError(t, r.Start(ctx))
		f.waitRouting(t, 30*time.Second)
		accepted, lost := f.verify(t, 30*time.Second)
		report(t, 7, "drain-replica", w, 0, accepted, lost, fmt.Sprintf("left_rotation_after=%.2fs call_in_progress=stored(%s) new_call_on=%s",
			left.Seconds(), msg.ID, survivor.Name))
		assert.Zero(t, w.failedByKind["deposit"], "draining one replica fails no deposit: %v", w.firstErrs)
		assert.Zero(t, lost)
	})

	t.Run("8-kill-replica-during-calls", func(t *testing.T) {
		defer func() { require.NoError(t, z.Start(ctx)) }()
		// Calls in progress on both replicas (the dispatcher alternates; other load also
		// passes through it, so place calls until each replica has one).
		type call struct {
			caller, mailbox string
			on              *Replica
			done            chan error
		}
		var calls []*call
		busy := func(r *Replica) bool {
			return slices.ContainsFunc(calls, func(c *call) bool { return c.on == r })
		}
		defer func() { // no sipp outlives the case
			for _, cl := range calls {
				<-cl.done
			}
		}()
		for i := 0; i < 6 && !(busy(z.Replicas[0]) && busy(z.Replicas[1])); i++ {
			cl := &call{caller: newCaller(), mailbox: f.mailboxes[4+i%4], done: make(chan error, 1)}
			go func() {
				cl.done <- sippCall(t, z.SIP, cl.mailbox, cl.caller, "/usr/share/sip-tester/g711a.pcap", 4*time.Second)
			}()
			cl.on = f.callOn(t, z, cl.caller)
			calls = append(calls, cl)
		}
		require.True(t, busy(z.Replicas[0]) && busy(z.Replicas[1]), "calls on both replicas")
		victim := calls[len(calls)-1].on
		survivor := other(z, victim)

		fault := time.Now()
		require.NoError(t, victim.Signal(syscall.SIGKILL))
		left := f.activeExactly(t, z, survivor)
		caller := newCaller()
		require.NoError(t, sippCall(t, z.SIP, f.mailboxes[0], caller, "/usr/share/sip-tester/g711a.pcap", time.Second), "a new call after the kill")
		assert.True(t, hasCall(survivor, caller), "the new call went to the surviving replica")
		f.stored(t, f.mailboxes[0], caller)
		killed := 0
		for _, cl := range calls {
			err := <-cl.done
			cl.done <- err // for the deferred wait
			if cl.on == victim {
				killed++
				continue // its calls end with it
			}
			require.NoError(t, err, "a call on the surviving replica goes on")
			f.stored(t, cl.mailbox, cl.caller)
		}
		end := time.Now()
		w := f.load.window(fault, end)
		after := f.load.window(fault.Add(left+time.Second), end)
		require.NoError(t, victim.Start(ctx))
		f.waitRouting(t, 30*time.Second)
		accepted, lost := f.verify(t, 30*time.Second)
		report(t, 8, "kill-replica", w, recoveredAfter(fault, w), accepted, lost,
			fmt.Sprintf("left_rotation_after=%.2fs calls_on_killed=%d calls_on_survivor=%d tm_status=%s",
				left.Seconds(), killed, len(calls)-killed, f.tmStatus(z.Stamp.ID)))
		assert.Empty(t, after.startedFailures("deposit"), "deposits succeed on the other replica")
		assert.Zero(t, lost)
	})

	t.Run("9-calls-from-one-source", func(t *testing.T) {
		// Simultaneous calls from one address (one SBC), each streaming its own tone, spread
		// over the replicas, each recorded into its own mailbox with its own audio. Both
		// replicas must be in the dispatcher's rotation first: the case before restarts one, and
		// on a loaded machine its probes may not have answered yet.
		f.activeExactly(t, z, z.Replicas...)
		const n = 6
		freqs := make([]float64, n)
		boxes, who := make([]string, n), make([]string, n)
		pcaps := make([]string, n)
		for i := range n {
			freqs[i] = 350 + 150*float64(i)
			pcaps[i] = sipptest.TonePcap(t, freqs[i])
			boxes[i], who[i] = f.mailboxes[i%len(f.mailboxes)], newCaller()
		}
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { errs[i] = sippCall(t, z.SIP, boxes[i], who[i], pcaps[i], 1500*time.Millisecond) })
		}
		wg.Wait()
		perReplica := map[string]int{}
		for i := range n {
			require.NoError(t, errs[i], "call %d", i)
			for _, r := range z.Replicas {
				if hasCall(r, who[i]) {
					perReplica[r.Name]++
				}
			}
			msg := f.stored(t, boxes[i], who[i])
			wav, err := f.regionService(c.Regions[0]).Audio(ctx, boxes[i], msg.ID)
			require.NoError(t, err)
			w, err := audio.Parse(wav)
			require.NoError(t, err)
			assert.Equal(t, freqs[i], sipptest.Dominant(w.ToPCM16(), freqs), "call %d recorded its own audio into %s", i, boxes[i])
		}
		assert.Len(t, perReplica, 2, "the calls spread over both replicas: %v", perReplica)
		t.Logf("FAILURE-CASE 9 calls-from-one-source calls=%d per_replica=%v", n, perReplica)
	})
}
