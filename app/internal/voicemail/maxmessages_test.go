package voicemail_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/audio"
	"github.com/voicemail-platform/voicemail/app/internal/store"
	vm "github.com/voicemail-platform/voicemail/app/internal/voicemail"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail/voicemailtest"
)

// depositAll sends n deposits to number at once, spread round robin over the services (each a
// process: a replica of a stamp, another stamp, another region), and returns how many were
// accepted.
func depositAll(t *testing.T, svcs []*vm.Service, number string, n int) int {
	t.Helper()
	wav := voicemailtest.WAV(audio.PCM16, 200*time.Millisecond)
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = svcs[i%len(svcs)].Deposit(context.Background(), number, vm.Deposit{Caller: "+4917" + strconv.Itoa(i), Audio: wav})
		})
	}
	close(start)
	wg.Wait()
	accepted := 0
	for _, err := range errs {
		switch {
		case err == nil:
			accepted++
		case !errors.Is(err, vm.ErrMailboxFull):
			t.Errorf("unexpected error: %v", err)
		}
	}
	return accepted
}

// maxMessages is exact within a region: the processes of one region (the replicas of its
// stamps, all on the region's metadata store) admit deposits through one compare-and-swapped
// admission row, so a mailbox never ends above its limit however the deposits are spread.
// Across regions each region counts the others' messages only once replication brings them,
// so deposits arriving in several regions within the replication lag can each fill the
// mailbox: up to R x maxMessages. The figures are logged; the README's security section quotes
// them.
func TestMaxMessagesBoundAcrossProcesses(t *testing.T) {
	const limit, n = 5, 60
	ctx := context.Background()
	for _, p := range []int{1, 2, 4} {
		t.Run(fmt.Sprintf("one region, %d processes", p), func(t *testing.T) {
			first := voicemailtest.New(t)
			svcs := []*vm.Service{first}
			for i := 1; i < p; i++ {
				s, _ := voicemailtest.NewWithOptions(t, vm.Options{Backend: first.Backend(), Node: fmt.Sprintf("local/stamp-%d", i)})
				svcs = append(svcs, s)
			}
			_, _, err := first.Provision(ctx, "4930555", vm.ProvisionRequest{PIN: "8264", MaxMessages: limit})
			require.NoError(t, err)
			accepted := depositAll(t, svcs, "4930555", n)
			msgs, err := first.Messages(ctx, "4930555", vm.FolderNew)
			require.NoError(t, err)
			t.Logf("limit %d, %d concurrent deposits over %d processes on one store: %d accepted, %d stored",
				limit, n, p, accepted, len(msgs))
			assert.Equal(t, accepted, len(msgs))
			assert.Equal(t, limit, len(msgs), "exactly the limit, whatever the number of processes")
		})
	}
	t.Run("two regions within the replication lag", func(t *testing.T) {
		a, _ := voicemailtest.NewWithOptions(t, vm.Options{Region: "weu", Node: "weu/1"})
		b, _ := voicemailtest.NewWithOptions(t, vm.Options{Region: "neu", Node: "neu/1"})
		_, _, err := a.Provision(ctx, "4930666", vm.ProvisionRequest{PIN: "8264", MaxMessages: limit})
		require.NoError(t, err)
		_, err = store.Replicate(ctx, a.Backend(), b.Backend(), "weu", 0)
		require.NoError(t, err)
		// Both regions take deposits before either's rows reach the other.
		accepted := depositAll(t, []*vm.Service{a, b}, "4930666", n)
		_, err = store.Replicate(ctx, a.Backend(), b.Backend(), "weu", 0)
		require.NoError(t, err)
		_, err = store.Replicate(ctx, b.Backend(), a.Backend(), "neu", 0)
		require.NoError(t, err)
		msgs, err := a.Messages(ctx, "4930666", vm.FolderNew)
		require.NoError(t, err)
		t.Logf("limit %d, %d concurrent deposits over 2 regions before replication: %d accepted, %d stored once replicated (bound %d)",
			limit, n, accepted, len(msgs), 2*limit)
		assert.Equal(t, accepted, len(msgs))
		assert.LessOrEqual(t, len(msgs), 2*limit)
		// Once replicated, both regions refuse further deposits.
		for _, s := range []*vm.Service{a, b} {
			_, err := s.Deposit(ctx, "4930666", vm.Deposit{Caller: "+4917", Audio: voicemailtest.WAV(audio.PCM16, 200*time.Millisecond)})
			assert.ErrorIs(t, err, vm.ErrMailboxFull)
		}
	})
}
