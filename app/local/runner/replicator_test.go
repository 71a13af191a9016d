package runner

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/audio"
	"github.com/voicemail-platform/voicemail/app/internal/store"
	"github.com/voicemail-platform/voicemail/app/internal/store/azure"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
	"github.com/voicemail-platform/voicemail/app/local/azurite"
	"github.com/voicemail-platform/voicemail/app/local/faultproxy"
)

func TestReplicatorCopiesPartitionsAndResumes(t *testing.T) {
	// Not parallel: it runs beside TestMain's service build, before the failure suites start.
	// As a parallel test it took one of the -parallel slots (GOMAXPROCS, 2 here) from them.
	ctx := context.Background()
	// Two regions' stores in one Azurite (own table and containers each); west's table sits
	// behind a fault proxy so the test can take it down.
	az := azurite.StartT(t, azurite.Options{InMemory: true, Combined: true})
	tableProxy, err := faultproxy.New(fmt.Sprintf("127.0.0.1:%d", az.Port(azurite.Table)))
	require.NoError(t, err)
	defer tableProxy.Close()
	names := []string{"east", "west"}
	backends := map[string]*store.Backend{}
	svcs := map[string]*voicemail.Service{}
	for _, n := range names {
		cs := az.ConnectionString()
		if n == "west" {
			cs = strings.Replace(cs, az.Endpoint(azurite.Table), "http://"+tableProxy.Addr()+"/"+azurite.Account, 1)
		}
		b, err := azure.Open(ctx, azure.Config{ConnectionString: cs, Table: n, AudioContainer: "audio-" + n,
			Queue: "deposits-" + n, StateContainer: "state-" + n})
		require.NoError(t, err)
		svc, err := voicemail.New(voicemail.Options{AllowGuessablePINs: true, Backend: b, Region: n})
		require.NoError(t, err)
		backends[n], svcs[n] = b, svc
	}
	r := NewReplicator(backends, 0, nil)
	wav := audio.Encode(audio.ALaw, audio.FromPCM16(audio.ALaw, audio.Tone(440, 200, 8000)))
	ids := func(region string) []string {
		msgs, err := svcs[region].Messages(ctx, "1001", "")
		require.NoError(t, err)
		var out []string
		for _, m := range msgs {
			out = append(out, m.ID)
		}
		slices.Sort(out)
		return out
	}
	deposit := func(region string) string {
		m, err := svcs[region].Deposit(ctx, "1001", voicemail.Deposit{Caller: "1", Audio: wav})
		require.NoError(t, err)
		return m.ID
	}

	_, _, err = svcs["east"].Provision(ctx, "1001", voicemail.ProvisionRequest{PIN: "2468"})
	require.NoError(t, err)
	require.NoError(t, r.Round(ctx))
	e1 := deposit("west") // west knows the mailbox now
	require.NoError(t, r.Round(ctx))
	assert.Equal(t, []string{e1}, ids("east"))
	audioOK, err := svcs["east"].Audio(ctx, "1001", e1)
	require.NoError(t, err, "audio replicated with the row")
	assert.Equal(t, wav, audioOK)

	// Partitioned: writes on both sides stay local.
	r.Partition("east", "west")
	e2, w2 := deposit("east"), deposit("west")
	require.NoError(t, r.Round(ctx))
	assert.NotContains(t, ids("east"), w2)
	assert.NotContains(t, ids("west"), e2)
	r.Heal()
	require.NoError(t, r.Round(ctx))
	assert.Equal(t, ids("east"), ids("west"), "converged after heal")
	assert.Len(t, ids("east"), 3)

	// A store outage stalls its pairs with an error naming them; the next round catches up.
	tableProxy.Refuse()
	e3 := deposit("east")
	err = r.Round(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "east -> west")
	tableProxy.Restore()
	require.NoError(t, r.Round(ctx))
	assert.Contains(t, ids("west"), e3)

	// A stamp of east whose Table requests failed over to west's endpoint wrote east's rows
	// into west's table (its audio stays in east's own account): they reach east's table too.
	viaWest := *backends["east"]
	viaWest.Meta = backends["west"].Meta
	failedOver, err := voicemail.New(voicemail.Options{AllowGuessablePINs: true, Backend: &viaWest, Region: "east"})
	require.NoError(t, err)
	m, err := failedOver.Deposit(ctx, "1001", voicemail.Deposit{Caller: "2", Audio: wav})
	require.NoError(t, err)
	require.NoError(t, r.Round(ctx))
	assert.Contains(t, ids("east"), m.ID, "a row written through another region's endpoint reaches its own region")
	assert.Equal(t, ids("east"), ids("west"))
	assert.Equal(t, int64(7), r.Rounds())
}
