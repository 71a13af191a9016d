package voicemail_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/audio"
	"github.com/voicemail-platform/voicemail/app/internal/store"
	"github.com/voicemail-platform/voicemail/app/internal/store/embedded"
	vm "github.com/voicemail-platform/voicemail/app/internal/voicemail"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail/voicemailtest"
)

func TestProvisionAndConfigure(t *testing.T) {
	ctx := context.Background()
	svc := voicemailtest.New(t)
	mb, created, err := svc.Provision(ctx, "4915550001", vm.ProvisionRequest{PIN: "1234", DisplayName: "Ann"})
	require.NoError(t, err)
	assert.True(t, created)
	assert.Equal(t, "en", mb.Language)
	assert.Equal(t, vm.DefaultMaxMessages, mb.MaxMessages)
	assert.Equal(t, vm.GreetingUnavailable, mb.ActiveGreeting)

	_, created, err = svc.Provision(ctx, "4915550001", vm.ProvisionRequest{PIN: "1234", DisplayName: "Ann B", Language: "de"})
	require.NoError(t, err)
	assert.False(t, created)

	busy := vm.GreetingBusy
	name := "Ann C"
	mb, err = svc.Configure(ctx, "4915550001", vm.MailboxPatch{DisplayName: &name, ActiveGreeting: &busy})
	require.NoError(t, err)
	assert.Equal(t, "Ann C", mb.DisplayName)
	assert.Equal(t, "de", mb.Language)
	assert.Equal(t, vm.GreetingBusy, mb.ActiveGreeting)

	bad := vm.GreetingKind("loud")
	_, err = svc.Configure(ctx, "4915550001", vm.MailboxPatch{ActiveGreeting: &bad})
	assert.ErrorIs(t, err, vm.ErrInvalid)
	_, _, err = svc.Provision(ctx, "4915550002", vm.ProvisionRequest{PIN: "12"})
	assert.ErrorIs(t, err, vm.ErrInvalid)
	_, _, err = svc.Provision(ctx, "abc", vm.ProvisionRequest{PIN: "1234"})
	assert.ErrorIs(t, err, vm.ErrInvalid)
	_, err = svc.Mailbox(ctx, "4915550009")
	assert.ErrorIs(t, err, vm.ErrNotFound)

	require.NoError(t, svc.PutGreeting(ctx, "4915550001", vm.GreetingName, voicemailtest.WAV(audio.ALaw, time.Second)))
	voicemailtest.Deposit(t, svc, "4915550001", "+4917", time.Second)
	require.NoError(t, svc.RemoveMailbox(ctx, "4915550001"))
	_, err = svc.Mailbox(ctx, "4915550001")
	assert.ErrorIs(t, err, vm.ErrNotFound)

	// Provisioned again, the number starts empty: no old messages, no old greetings.
	_, created, err = svc.Provision(ctx, "4915550001", vm.ProvisionRequest{PIN: "9999"})
	require.NoError(t, err)
	assert.True(t, created)
	list, err := svc.Messages(ctx, "4915550001", "")
	require.NoError(t, err)
	assert.Empty(t, list)
	_, err = svc.Greeting(ctx, "4915550001", vm.GreetingName)
	assert.ErrorIs(t, err, vm.ErrNotFound)
	assert.ErrorIs(t, svc.Login(ctx, "4915550001", "1234"), vm.ErrBadPIN)
}

func TestLoginWrongPINsSlowTheSourceNotTheMailbox(t *testing.T) {
	svc, _ := voicemailtest.NewWithOptions(t, vm.Options{Auth: vm.AuthPolicy{FreeFailures: 2, MailboxFailures: 5, FailureDelay: time.Millisecond}})
	a := vm.WithSource(context.Background(), "ip:192.0.2.1")
	b := vm.WithSource(context.Background(), "ip:192.0.2.2")
	voicemailtest.Provision(t, svc, "100200", "4321")
	require.NoError(t, svc.Login(a, "100200", "4321"))
	assert.ErrorIs(t, svc.Login(a, "100200", "0000"), vm.ErrBadPIN)
	assert.ErrorIs(t, svc.Login(a, "100200", "0000"), vm.ErrBadPIN)
	assert.ErrorIs(t, svc.Login(a, "100200", "0000"), vm.ErrBadPIN, "the first wrong PIN past the free ones is still evaluated")
	err := svc.Login(a, "100200", "4321")
	assert.ErrorIs(t, err, vm.ErrThrottled, "then the source waits, even with the right PIN")
	assert.Equal(t, time.Second, vm.RetryAfter(err))
	require.NoError(t, svc.Login(b, "100200", "4321"), "another source is not locked out")
	assert.ErrorIs(t, svc.Login(b, "999999", "4321"), vm.ErrBadPIN, "an unknown number fails like a wrong PIN")
	assert.ErrorIs(t, svc.Login(b, "12", "4321"), vm.ErrBadPIN, "so does a malformed one")

	// Many sources together put the mailbox in a slow lane; nobody locks it.
	voicemailtest.Provision(t, svc, "100300", "4321")
	for i := range 5 {
		src := vm.WithSource(context.Background(), fmt.Sprintf("ip:198.51.100.%d", i))
		assert.ErrorIs(t, svc.Login(src, "100300", "0000"), vm.ErrBadPIN)
	}
	owner := vm.WithSource(context.Background(), "ip:203.0.113.9")
	err = svc.Login(owner, "100300", "4321")
	assert.ErrorIs(t, err, vm.ErrThrottled, "the slow lane spaces evaluations")
	assert.LessOrEqual(t, vm.RetryAfter(err), time.Second)
	require.Eventually(t, func() bool { return svc.Login(owner, "100300", "4321") == nil }, 3*time.Second, 100*time.Millisecond,
		"the owner gets in once the slow lane's wait has passed")

	// An operator lock holds for the right PIN only; a wrong PIN still looks wrong.
	c := vm.WithSource(context.Background(), "ip:192.0.2.3")
	require.NoError(t, svc.Lock(c, "100300", time.Now().Add(time.Hour)))
	assert.ErrorIs(t, svc.Login(c, "100300", "4321"), vm.ErrLocked)
	assert.ErrorIs(t, svc.Login(c, "100300", "0000"), vm.ErrBadPIN)
	require.NoError(t, svc.Lock(c, "100300", time.Time{}))
	require.NoError(t, svc.Login(c, "100300", "4321"))
	require.NoError(t, svc.ChangePIN(c, "100300", "98765"))
	require.NoError(t, svc.Login(c, "100300", "98765"))
	assert.ErrorIs(t, svc.ChangePIN(c, "100300", "12a4"), vm.ErrInvalid)
}

func TestGreetings(t *testing.T) {
	ctx := context.Background()
	svc := voicemailtest.New(t)
	voicemailtest.Provision(t, svc, "100200", "4321")
	_, err := svc.Greeting(ctx, "100200", vm.GreetingBusy)
	assert.ErrorIs(t, err, vm.ErrNotFound)
	wav := voicemailtest.WAV(audio.PCM16, 2*time.Second)
	require.NoError(t, svc.PutGreeting(ctx, "100200", vm.GreetingBusy, wav))
	got, err := svc.Greeting(ctx, "100200", vm.GreetingBusy)
	require.NoError(t, err)
	assert.Equal(t, wav, got)
	wav2 := voicemailtest.WAV(audio.ULaw, time.Second)
	require.NoError(t, svc.PutGreeting(ctx, "100200", vm.GreetingBusy, wav2))
	got, err = svc.Greeting(ctx, "100200", vm.GreetingBusy)
	require.NoError(t, err)
	assert.Equal(t, wav2, got)
	assert.ErrorIs(t, svc.PutGreeting(ctx, "100200", vm.GreetingName, []byte("RIFF....WAVEjunk")), vm.ErrBadAudio)
	assert.ErrorIs(t, svc.PutGreeting(ctx, "100200", "loud", wav), vm.ErrInvalid)
	require.NoError(t, svc.DeleteGreeting(ctx, "100200", vm.GreetingBusy))
	_, err = svc.Greeting(ctx, "100200", vm.GreetingBusy)
	assert.ErrorIs(t, err, vm.ErrNotFound)
	assert.ErrorIs(t, svc.DeleteGreeting(ctx, "100200", vm.GreetingBusy), vm.ErrNotFound)
}

func TestMessagesLifecycle(t *testing.T) {
	ctx := context.Background()
	svc := voicemailtest.New(t)
	voicemailtest.Provision(t, svc, "100200", "4321")
	events, cancel := svc.Subscribe("100200")
	defer cancel()

	m1 := voicemailtest.Deposit(t, svc, "100200", "+491701", 2*time.Second)
	ev := <-events
	assert.Equal(t, vm.Event{Mailbox: "100200", Kind: vm.EventDeposited, MessageID: m1.ID, Summary: vm.Summary{New: 1}, Local: true}, ev)
	m2 := voicemailtest.Deposit(t, svc, "100200", "+491702", time.Second)
	<-events
	assert.True(t, vm.ValidMessageID(m1.ID), m1.ID)
	assert.InDelta(t, 2.0, m1.Seconds, 0.01)
	assert.Equal(t, vm.FolderNew, m1.Folder)

	list, err := svc.Messages(ctx, "100200", "")
	require.NoError(t, err)
	require.Len(t, list, 2)
	assert.Equal(t, m2.ID, list[0].ID, "newest first")

	wav, err := svc.Audio(ctx, "100200", m1.ID)
	require.NoError(t, err)
	w, err := audio.Parse(wav)
	require.NoError(t, err)
	assert.Equal(t, 2*time.Second, w.Duration())

	heard, saved := true, vm.FolderSaved
	m, err := svc.UpdateMessage(ctx, "100200", m1.ID, vm.MessageUpdate{Heard: &heard, Folder: &saved})
	require.NoError(t, err)
	assert.True(t, m.Heard)
	assert.Equal(t, vm.FolderSaved, m.Folder)
	ev = <-events
	assert.Equal(t, vm.Summary{New: 1, Old: 1}, ev.Summary)
	sum, err := svc.Summary(ctx, "100200")
	require.NoError(t, err)
	assert.Equal(t, vm.Summary{New: 1, Old: 1}, sum)

	onlySaved, err := svc.Messages(ctx, "100200", vm.FolderSaved)
	require.NoError(t, err)
	require.Len(t, onlySaved, 1)
	assert.Equal(t, m1.ID, onlySaved[0].ID)

	require.NoError(t, svc.DeleteMessage(ctx, "100200", m1.ID))
	<-events
	_, err = svc.Message(ctx, "100200", m1.ID)
	assert.ErrorIs(t, err, vm.ErrNotFound)
	_, err = svc.Audio(ctx, "100200", m1.ID)
	assert.ErrorIs(t, err, vm.ErrNotFound)
	assert.ErrorIs(t, svc.DeleteMessage(ctx, "100200", m1.ID), vm.ErrNotFound)
	list, err = svc.Messages(ctx, "100200", "")
	require.NoError(t, err)
	assert.Len(t, list, 1)
}

func TestDepositRules(t *testing.T) {
	ctx := context.Background()
	svc := voicemailtest.New(t)
	_, _, err := svc.Provision(ctx, "100200", vm.ProvisionRequest{PIN: "4321", MaxMessages: 2, MaxMessageSeconds: 3})
	require.NoError(t, err)

	_, err = svc.Deposit(ctx, "100200", vm.Deposit{Audio: []byte("not a wav")})
	assert.ErrorIs(t, err, vm.ErrBadAudio)
	_, err = svc.Deposit(ctx, "100200", vm.Deposit{Audio: voicemailtest.WAV(audio.PCM16, 5*time.Second)})
	assert.ErrorIs(t, err, vm.ErrTooLong)
	_, err = svc.Deposit(ctx, "999", vm.Deposit{Audio: voicemailtest.WAV(audio.PCM16, time.Second)})
	assert.ErrorIs(t, err, vm.ErrNotFound)

	id := vm.NewMessageID("local", time.Now())
	first, err := svc.Deposit(ctx, "100200", vm.Deposit{ID: id, Audio: voicemailtest.WAV(audio.PCM16, time.Second)})
	require.NoError(t, err)
	again, err := svc.Deposit(ctx, "100200", vm.Deposit{ID: id, Audio: voicemailtest.WAV(audio.PCM16, time.Second)})
	require.NoError(t, err, "retry with the same id is idempotent")
	assert.Equal(t, first, again)
	_, err = svc.Deposit(ctx, "100200", vm.Deposit{ID: "../x", Audio: voicemailtest.WAV(audio.PCM16, time.Second)})
	assert.ErrorIs(t, err, vm.ErrInvalid)

	voicemailtest.Deposit(t, svc, "100200", "", time.Second)
	_, err = svc.CanDeposit(ctx, "100200")
	assert.ErrorIs(t, err, vm.ErrMailboxFull)
	_, err = svc.Deposit(ctx, "100200", vm.Deposit{Audio: voicemailtest.WAV(audio.PCM16, time.Second)})
	assert.ErrorIs(t, err, vm.ErrMailboxFull)
	list, err := svc.Messages(ctx, "100200", "")
	require.NoError(t, err)
	assert.Len(t, list, 2, "nothing partial stored")
}

func TestMessageIDOrder(t *testing.T) {
	t0 := time.UnixMilli(1_700_000_000_000)
	a := vm.NewMessageID("westeurope", t0)
	b := vm.NewMessageID("northeurope", t0.Add(time.Millisecond))
	assert.Less(t, a, b)
	ts, ok := vm.MessageTime(b)
	require.True(t, ok)
	assert.Equal(t, t0.Add(time.Millisecond).UTC(), ts)
}

// failing wraps the embedded store's metadata and blobs so a test can make them fail, as if
// the store process died; the queue stays up (it is a separate file).
type failing struct {
	store.Metadata
	blobs    store.Blobs
	metaDown atomic.Bool
	blobDown atomic.Bool
}

var errDown = errors.New("injected outage")

func (f *failing) List(ctx context.Context, p, prefix string) ([]store.Row, error) {
	if f.metaDown.Load() {
		return nil, errDown
	}
	return f.Metadata.List(ctx, p, prefix)
}

func (f *failing) Insert(ctx context.Context, p, k string, d []byte) (store.Row, error) {
	if f.metaDown.Load() {
		return store.Row{}, errDown
	}
	return f.Metadata.Insert(ctx, p, k, d)
}

func (f *failing) Update(ctx context.Context, p, k string, fn func([]byte) ([]byte, error)) (store.Row, error) {
	if f.metaDown.Load() {
		return store.Row{}, errDown
	}
	return f.Metadata.Update(ctx, p, k, fn)
}

type failingBlobs struct{ f *failing }

func (b failingBlobs) Put(ctx context.Context, n string, d []byte) error {
	if b.f.blobDown.Load() {
		return errDown
	}
	return b.f.blobs.Put(ctx, n, d)
}
func (b failingBlobs) Get(ctx context.Context, n string) ([]byte, error) {
	if b.f.blobDown.Load() {
		return nil, errDown
	}
	return b.f.blobs.Get(ctx, n)
}
func (b failingBlobs) Delete(ctx context.Context, n string) error {
	if b.f.blobDown.Load() {
		return errDown
	}
	return b.f.blobs.Delete(ctx, n)
}
func (b failingBlobs) List(ctx context.Context, p string) ([]string, error) {
	if b.f.blobDown.Load() {
		return nil, errDown
	}
	return b.f.blobs.List(ctx, p)
}

func TestDepositSurvivesStoreOutage(t *testing.T) {
	ctx := context.Background()
	b, err := embedded.Open(t.TempDir(), embedded.Options{})
	require.NoError(t, err)
	defer b.Close()
	f := &failing{Metadata: b.Meta, blobs: b.Blobs}
	wrapped := &store.Backend{Meta: f, Blobs: failingBlobs{f}, Queue: b.Queue, State: b.State}
	// Not voicemailtest: this test drives Drain itself.
	svc, err := vm.New(vm.Options{AllowGuessablePINs: true, Backend: wrapped, Region: "local", DrainVisibility: 100 * time.Millisecond})
	require.NoError(t, err)
	voicemailtest.Provision(t, svc, "100200", "4321")
	_, err = svc.Mailbox(ctx, "100200") // warms the outage cache
	require.NoError(t, err)
	events, cancel := svc.Subscribe("100200")
	defer cancel()

	long := voicemailtest.WAV(audio.PCM16, 30*time.Second) // 480 kB: 15 queue chunks
	short := voicemailtest.WAV(audio.ALaw, 2*time.Second)

	f.blobDown.Store(true) // audio store down: audio goes through the queue in chunks
	m1, err := svc.Deposit(ctx, "100200", vm.Deposit{Caller: "a", Audio: long})
	require.NoError(t, err)
	f.blobDown.Store(false)
	f.metaDown.Store(true) // metadata down (audio store up again)
	m2, err := svc.Deposit(ctx, "100200", vm.Deposit{Caller: "b", Audio: short})
	require.NoError(t, err)
	f.blobDown.Store(true) // both down
	m3, err := svc.Deposit(ctx, "100200", vm.Deposit{Caller: "c", Audio: short})
	require.NoError(t, err)
	require.NoError(t, b.Queue.Send(ctx, vm.HealthcheckMarker+" probe"))

	n, err := svc.Drain(ctx)
	assert.Error(t, err, "stores still down")
	assert.Zero(t, n)

	f.metaDown.Store(false)
	f.blobDown.Store(false)
	// Messages the failed pass received stay hidden for the visibility timeout, then drain.
	stored := 0
	deadline := time.Now().Add(5 * time.Second)
	for stored < 3 && time.Now().Before(deadline) {
		time.Sleep(150 * time.Millisecond)
		n, err := svc.Drain(ctx)
		require.NoError(t, err)
		stored += n
	}
	require.Equal(t, 3, stored)

	list, err := svc.Messages(ctx, "100200", "")
	require.NoError(t, err)
	require.Len(t, list, 3)
	for _, want := range []struct {
		m   vm.Message
		wav []byte
	}{{m1, long}, {m2, short}, {m3, short}} {
		got, err := svc.Audio(ctx, "100200", want.m.ID)
		require.NoError(t, err)
		assert.Equal(t, want.wav, got, want.m.Caller)
		m, err := svc.Message(ctx, "100200", want.m.ID)
		require.NoError(t, err)
		assert.Equal(t, want.m.Caller, m.Caller)
		assert.Equal(t, want.m.Received.UnixMilli(), m.Received.UnixMilli())
	}
	// Nothing left behind: queue empty, staging blobs removed.
	left, err := b.Queue.Receive(ctx, 32, time.Second)
	require.NoError(t, err)
	assert.Empty(t, left)
	pending, err := b.Blobs.List(ctx, "pending/")
	require.NoError(t, err)
	assert.Empty(t, pending)
	for range 3 {
		ev := <-events
		assert.Equal(t, vm.EventDeposited, ev.Kind)
	}
}

// TestSubscribersSeeChangesFromOtherProcesses: two services (two stamps) share one store; a
// subscriber on one hears about deposits, flag changes and deletions made through the other.
func TestSubscribersSeeChangesFromOtherProcesses(t *testing.T) {
	ctx := context.Background()
	a, _ := voicemailtest.NewWithOptions(t, vm.Options{WatchInterval: 20 * time.Millisecond})
	b, err := vm.New(vm.Options{AllowGuessablePINs: true, Backend: a.Backend(), Region: "local", Node: "local/stamp-2"})
	require.NoError(t, err)
	voicemailtest.Provision(t, a, "100200", "4321")
	events, cancel := a.Subscribe("100200")
	defer cancel()
	next := func() vm.Event {
		t.Helper()
		select {
		case ev := <-events:
			return ev
		case <-time.After(10 * time.Second):
			t.Fatal("no event")
			return vm.Event{}
		}
	}

	m := voicemailtest.Deposit(t, b, "100200", "+4917", time.Second)
	ev := next()
	assert.Equal(t, vm.Event{Mailbox: "100200", Kind: vm.EventDeposited, MessageID: m.ID, Summary: vm.Summary{New: 1}}, ev)

	heard := true
	_, err = b.UpdateMessage(ctx, "100200", m.ID, vm.MessageUpdate{Heard: &heard})
	require.NoError(t, err)
	ev = next()
	assert.Equal(t, vm.EventChanged, ev.Kind)
	assert.Equal(t, vm.Summary{Old: 1}, ev.Summary)

	require.NoError(t, b.DeleteMessage(ctx, "100200", m.ID))
	ev = next()
	assert.Equal(t, vm.EventChanged, ev.Kind)
	assert.Equal(t, vm.Summary{}, ev.Summary)
}

// TestWriteAfterReadWinsDespiteClockSkew: a region whose clock runs behind still wins with a
// change made after it read the other region's value (hybrid logical clock observation).
func TestWriteAfterReadWinsDespiteClockSkew(t *testing.T) {
	ctx := context.Background()
	var skew atomic.Int64
	skew.Store(int64(time.Hour))
	ahead, _ := voicemailtest.NewWithOptions(t, vm.Options{Region: "east", Now: func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }})
	behind, err := vm.New(vm.Options{AllowGuessablePINs: true, Backend: ahead.Backend(), Region: "west"})
	require.NoError(t, err)
	voicemailtest.Provision(t, ahead, "100200", "4321")
	skew.Add(int64(time.Minute)) // east's later change carries an even later timestamp
	east := "set by east"
	_, err = ahead.Configure(ctx, "100200", vm.MailboxPatch{DisplayName: &east})
	require.NoError(t, err)
	name := "set by west after reading east"
	_, err = behind.Configure(ctx, "100200", vm.MailboxPatch{DisplayName: &name})
	require.NoError(t, err)
	mb, err := ahead.Mailbox(ctx, "100200")
	require.NoError(t, err)
	assert.Equal(t, name, mb.DisplayName)
}

// oneNotice waits up to d for the one deposit notice on svc's notification queue.
func oneNotice(t *testing.T, svc *vm.Service, d time.Duration) []store.QueueMessage {
	t.Helper()
	var notes []store.QueueMessage
	require.Eventually(t, func() bool {
		var err error
		notes, err = svc.Backend().Notify.Receive(context.Background(), 10, time.Minute)
		return err == nil && len(notes) == 1
	}, d, 20*time.Millisecond)
	return notes
}

func TestDepositNoticeOnNotificationQueue(t *testing.T) {
	svc := voicemailtest.New(t)
	voicemailtest.Provision(t, svc, "100200", "4321")
	m := voicemailtest.Deposit(t, svc, "100200", "+4917", time.Second)
	notes := oneNotice(t, svc, 5*time.Second)
	var n vm.DepositNotice
	require.NoError(t, json.Unmarshal([]byte(notes[0].Text), &n))
	assert.Equal(t, vm.DepositNotice{Type: "deposited", Mailbox: "100200", MessageID: m.ID, Caller: "+4917",
		Received: m.Received, DurationSeconds: 1, Region: "local"}, n)
}

// gatedQueue holds every Send until gate is closed.
type gatedQueue struct {
	store.Queue
	gate chan struct{}
}

func (q gatedQueue) Send(ctx context.Context, text string) error {
	select {
	case <-q.gate:
		return q.Queue.Send(ctx, text)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func TestFlushNotificationsWaitsForNoticesInFlight(t *testing.T) {
	ctx := context.Background()
	b, err := embedded.Open(t.TempDir(), embedded.Options{})
	require.NoError(t, err)
	defer b.Close()
	gate := make(chan struct{})
	b.Notify = gatedQueue{Queue: b.Notify, gate: gate}
	svc, _ := voicemailtest.NewWithOptions(t, vm.Options{Backend: b})
	voicemailtest.Provision(t, svc, "100200", "4321")
	require.NoError(t, svc.FlushNotifications(ctx), "nothing in flight")

	m := voicemailtest.Deposit(t, svc, "100200", "+4917", time.Second)
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, svc.FlushNotifications(short), context.DeadlineExceeded, "the notice is held at the gate")

	close(gate)
	require.NoError(t, svc.FlushNotifications(ctx))
	notes, err := b.Notify.Receive(ctx, 10, time.Minute) // no waiting: the flush did that
	require.NoError(t, err)
	require.Len(t, notes, 1)
	assert.Contains(t, notes[0].Text, m.ID)
	require.NoError(t, svc.FlushNotifications(ctx), "a flush frees its slots again")
	voicemailtest.Deposit(t, svc, "100200", "+4918", time.Second)
	require.NoError(t, svc.FlushNotifications(ctx))
	notes, err = b.Notify.Receive(ctx, 10, time.Minute)
	require.NoError(t, err)
	assert.Len(t, notes, 1, "notifications are sent after a flush")
}

func TestMWITargetsListsMailboxesWithATarget(t *testing.T) {
	ctx := context.Background()
	svc, _ := voicemailtest.NewWithOptions(t, vm.Options{MWIDomains: []string{"192.0.2.1"}})
	target := vm.Notification{MWITarget: "sip:1001@192.0.2.1"}
	_, _, err := svc.Provision(ctx, "4915550011", vm.ProvisionRequest{PIN: "1234", Notify: target})
	require.NoError(t, err)
	_, _, err = svc.Provision(ctx, "4915550012", vm.ProvisionRequest{PIN: "1234"})
	require.NoError(t, err)
	_, _, err = svc.Provision(ctx, "4915550013", vm.ProvisionRequest{PIN: "1234"})
	require.NoError(t, err)
	_, err = svc.Configure(ctx, "4915550013", vm.MailboxPatch{Notify: &target})
	require.NoError(t, err)
	_, _, err = svc.Provision(ctx, "4915550014", vm.ProvisionRequest{PIN: "1234", Notify: target})
	require.NoError(t, err)

	// A fresh process on the same store (a restart) finds them without having seen them.
	fresh, err := vm.New(vm.Options{AllowGuessablePINs: true, Backend: svc.Backend(), Region: "local"})
	require.NoError(t, err)
	got, err := fresh.MWITargets(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"4915550011", "4915550013", "4915550014"}, got)

	// Clearing the target or removing the mailbox takes it off the list.
	_, err = svc.Configure(ctx, "4915550011", vm.MailboxPatch{Notify: &vm.Notification{}})
	require.NoError(t, err)
	require.NoError(t, svc.RemoveMailbox(ctx, "4915550014"))
	got, err = fresh.MWITargets(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"4915550013"}, got)
}

// durationSeconds is whole seconds, rounded to the nearest, for a deposit of any length (a
// phone recording is rarely a whole number of seconds); durationMs keeps the exact length.
func TestDurationSecondsIsWholeSeconds(t *testing.T) {
	svc := voicemailtest.New(t)
	voicemailtest.Provision(t, svc, "100200", "1234")
	for _, c := range []struct {
		length time.Duration
		want   int64
	}{{1600 * time.Millisecond, 2}, {2400 * time.Millisecond, 2}, {2 * time.Second, 2}, {400 * time.Millisecond, 0}} {
		m := voicemailtest.Deposit(t, svc, "100200", "+491701", c.length)
		b, err := json.Marshal(m)
		require.NoError(t, err)
		var v map[string]any
		require.NoError(t, json.Unmarshal(b, &v))
		assert.Equal(t, float64(c.want), v["durationSeconds"], "%s", c.length)
		assert.Equal(t, float64(c.length.Milliseconds()), v["durationMs"], "%s", c.length)
	}
}

// A deposit notice makes a visual voicemail client sync over IMAP, which shows a message once
// its deposit time is the visibility delay old: the notice is not sent before that, and a
// flush at shutdown sends the held ones at once.
func TestDepositNoticeWaitsForIMAPVisibility(t *testing.T) {
	ctx := context.Background()
	const delay = time.Second
	svc, _ := voicemailtest.NewWithOptions(t, vm.Options{NoticeDelay: delay})
	voicemailtest.Provision(t, svc, "100200", "4321")
	m := voicemailtest.Deposit(t, svc, "100200", "+4917", time.Second)
	notes := oneNotice(t, svc, 10*time.Second)
	deposited, ok := vm.MessageTime(m.ID)
	require.True(t, ok)
	assert.GreaterOrEqual(t, time.Since(deposited), delay, "the notice went out once IMAP shows the message")
	assert.Contains(t, notes[0].Text, m.ID)

	held, _ := voicemailtest.NewWithOptions(t, vm.Options{NoticeDelay: time.Hour})
	voicemailtest.Provision(t, held, "100200", "4321")
	m = voicemailtest.Deposit(t, held, "100200", "+4918", time.Second)
	require.NoError(t, held.FlushNotifications(ctx))
	notes, err := held.Backend().Notify.Receive(ctx, 10, time.Minute) // no waiting: the flush did that
	require.NoError(t, err)
	require.Len(t, notes, 1, "a flush sends held notices")
	assert.Contains(t, notes[0].Text, m.ID)
}

// The inbox's UIDVALIDITY register is a max-register: regions raising it concurrently agree
// on the greatest, and a lower raise changes nothing.
func TestRaiseUIDValidityMergesByMax(t *testing.T) {
	ctx := context.Background()
	west := voicemailtest.New(t)
	east, _ := voicemailtest.NewWithOptions(t, vm.Options{Backend: west.Backend(), Region: "east"})
	voicemailtest.Provision(t, west, "100200", "4321")
	require.NoError(t, west.RaiseUIDValidity(ctx, "100200", 2000))
	require.NoError(t, east.RaiseUIDValidity(ctx, "100200", 3000))
	require.NoError(t, west.RaiseUIDValidity(ctx, "100200", 2500))
	for _, svc := range []*vm.Service{west, east} {
		snap, err := svc.Snapshot(ctx, "100200")
		require.NoError(t, err)
		assert.EqualValues(t, 3000, snap.UIDValidity)
	}
	assert.ErrorIs(t, west.RaiseUIDValidity(ctx, "100999", 1), vm.ErrNotFound)
}

// What IMAP showed is one record per writer: a writer's later record replaces its own, not
// another's, only if its own is still what the caller's snapshot held (another process of the
// same writer may have recorded since), and a record of a raised UIDVALIDITY drops the writer
// region's older ones.
func TestRecordShownKeepsOneRecordPerWriter(t *testing.T) {
	ctx := context.Background()
	a := voicemailtest.New(t)
	b, _ := voicemailtest.NewWithOptions(t, vm.Options{Backend: a.Backend(), Node: "local/stamp2"})
	east, _ := voicemailtest.NewWithOptions(t, vm.Options{Backend: a.Backend(), Region: "east"})
	voicemailtest.Provision(t, a, "100200", "4321")
	shown := func() []vm.Shown {
		snap, err := a.Snapshot(ctx, "100200")
		require.NoError(t, err)
		return snap.Shown
	}
	state := func(records []vm.Shown) []vm.Shown {
		for i := range records {
			records[i].Writer = ""
		}
		return records
	}
	require.NoError(t, a.RecordShown(ctx, "100200", vm.Shown{Validity: 7, Last: "m2", Count: 1}, nil))
	require.NoError(t, b.RecordShown(ctx, "100200", vm.Shown{Validity: 7, Last: "m3", Count: 3}, nil))
	require.NoError(t, east.RecordShown(ctx, "100200", vm.Shown{Validity: 7, Last: "m1", Count: 1}, nil))
	seen := shown()
	require.NoError(t, a.RecordShown(ctx, "100200", vm.Shown{Validity: 7, Last: "m4", Count: 3, From: "m2", Tail: "x"}, seen))
	assert.ErrorIs(t, a.RecordShown(ctx, "100200", vm.Shown{Validity: 7, Last: "m5", Count: 4}, seen), vm.ErrShownChanged,
		"another process of the writer recorded since the snapshot")
	assert.ElementsMatch(t, []vm.Shown{{Validity: 7, Last: "m4", Count: 3, From: "m2", Tail: "x"}, {Validity: 7, Last: "m3", Count: 3}, {Validity: 7, Last: "m1", Count: 1}},
		state(shown()), "the writer's record replaced; the refused one stored nothing")
	require.NoError(t, a.RecordShown(ctx, "100200", vm.Shown{Validity: 8, Last: "m4", Count: 4}, shown()))
	assert.ElementsMatch(t, []vm.Shown{{Validity: 8, Last: "m4", Count: 4}, {Validity: 7, Last: "m1", Count: 1}}, state(shown()),
		"a raise drops the region's older records; other regions' rows are theirs")
	snap, err := a.Snapshot(ctx, "100200")
	require.NoError(t, err)
	assert.EqualValues(t, 8, snap.UIDValidity, "a UIDVALIDITY shown is never undercut, even if the raise's write was lost")
}

// A placement orders a message at a later time in every region's snapshot; placements merge
// by max, so an earlier one (another region's, concurrent) never moves it back, and a message
// stored late is keyed at its store time.
func TestPlaceMessagesOrdersByTheLatestPlacement(t *testing.T) {
	ctx := context.Background()
	a := voicemailtest.New(t)
	east, _ := voicemailtest.NewWithOptions(t, vm.Options{Backend: a.Backend(), Region: "east"})
	voicemailtest.Provision(t, a, "100200", "4321")
	m := voicemailtest.Deposit(t, a, "100200", "+15551110001", time.Second)
	at := time.Now().Add(time.Minute).Truncate(time.Millisecond)
	require.NoError(t, a.PlaceMessages(ctx, "100200", []string{m.ID}, at))
	require.NoError(t, east.PlaceMessages(ctx, "100200", []string{m.ID}, at.Add(-time.Second)))
	snap, err := east.Snapshot(ctx, "100200")
	require.NoError(t, err)
	assert.Equal(t, []string{vm.OrderKey(m.ID, at)}, snap.History)
	assert.Equal(t, m.ID, vm.KeyID(snap.History[0]))
	got, ok := vm.MessageTime(snap.History[0])
	require.True(t, ok)
	assert.True(t, got.Equal(at), "the key carries the placement: %s", got)
	require.Len(t, snap.Messages, 1, "the message itself is unchanged")
	assert.Equal(t, m.ID, snap.Messages[0].ID)
	assert.ErrorIs(t, a.PlaceMessages(ctx, "100200", []string{"not-an-id"}, at), vm.ErrInvalid)

	old := vm.NewMessageID("local", time.Now().Add(-time.Hour))
	_, err = a.Deposit(ctx, "100200", vm.Deposit{ID: old, Caller: "+15551110002", Audio: voicemailtest.WAV(audio.ALaw, time.Second)})
	require.NoError(t, err)
	snap, err = a.Snapshot(ctx, "100200")
	require.NoError(t, err)
	require.Len(t, snap.History, 2)
	stored, _ := vm.MessageTime(snap.History[0])
	assert.Equal(t, old, vm.KeyID(snap.History[0]))
	assert.WithinDuration(t, time.Now(), stored, time.Minute, "a deposit stored an hour after its id's time is keyed at its store time")
}
