package runner

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/audio"
	"github.com/voicemail-platform/voicemail/app/internal/store"
	"github.com/voicemail-platform/voicemail/app/internal/store/azure"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
	"github.com/voicemail-platform/voicemail/app/local/azurite"
	"github.com/voicemail-platform/voicemail/internal/topology"
)

// Two regions laid out as in Azure: each writes only its own audio container, the
// replicator copies it into the other's replica container, stamps reach blobs through guards
// that refuse writes to replicas (409), and a message names the region that stored its audio.
// Played in the other region, audio comes from the origin while the replica lags, and from the
// replica while the origin's blob store is unreachable; a delete there deletes at the origin.
func TestReplicaContainersAcrossRegions(t *testing.T) {
	ctx := context.Background()
	names := []string{"east", "west"}
	azs, guards := map[string]*azurite.Azurite{}, map[string]*ReplicaGuard{}
	for _, n := range names {
		azs[n] = azurite.StartT(t, azurite.Options{InMemory: true, Combined: true})
		g, err := NewReplicaGuard(fmt.Sprintf("127.0.0.1:%d", azs[n].Port(azurite.Blob)), topology.AudioContainer)
		require.NoError(t, err)
		t.Cleanup(g.Close)
		guards[n] = g
	}
	other := map[string]string{"east": "west", "west": "east"}
	guarded := func(n string) string { return "http://" + guards[n].Addr() + "/" + azurite.Account }
	direct, stamp, svcs := map[string]*store.Backend{}, map[string]*store.Backend{}, map[string]*voicemail.Service{}
	targets := map[[2]string]store.Blobs{}
	for _, n := range names {
		var err error
		direct[n], err = azure.Open(ctx, azure.Config{ConnectionString: azs[n].ConnectionString()})
		require.NoError(t, err)
		rep, err := azure.Open(ctx, azure.Config{ConnectionString: azs[n].ConnectionString(), AudioContainer: topology.ReplicaContainer(other[n])})
		require.NoError(t, err)
		targets[[2]string{other[n], n}] = rep.Blobs
		cs := strings.Replace(azs[n].ConnectionString(), azs[n].Endpoint(azurite.Blob), guarded(n), 1)
		stamp[n], err = azure.Open(ctx, azure.Config{ConnectionString: cs, BlobRegions: map[string]string{other[n]: guarded(other[n])}})
		require.NoError(t, err)
		require.NotNil(t, stamp[n].Regions)
		svcs[n], err = voicemail.New(voicemail.Options{Backend: stamp[n], Region: n})
		require.NoError(t, err)
	}
	r := NewReplicator(direct, 0, nil)
	r.SetBlobTargets(targets)

	// A stamp's write into a replica container fails as it does in Azure.
	cs := strings.Replace(azs["west"].ConnectionString(), azs["west"].Endpoint(azurite.Blob), guarded("west"), 1)
	replicaWriter, err := azure.Open(ctx, azure.Config{ConnectionString: cs, AudioContainer: topology.ReplicaContainer("east")})
	require.NoError(t, err)
	err = replicaWriter.Blobs.Put(ctx, "audio/x.wav", []byte("x"))
	var re *azcore.ResponseError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, http.StatusConflict, re.StatusCode)
	assert.Equal(t, ReplicaWriteErrorCode, re.ErrorCode)

	wav := audio.Encode(audio.ALaw, audio.FromPCM16(audio.ALaw, audio.Tone(440, 200, 8000)))
	_, _, err = svcs["east"].Provision(ctx, "1001", voicemail.ProvisionRequest{PIN: "2468"})
	require.NoError(t, err)
	require.NoError(t, r.Round(ctx))

	// The replica lags: the row crosses, the blob does not; west plays it from the origin.
	r.PauseBlobs("east")
	m, err := svcs["east"].Deposit(ctx, "1001", voicemail.Deposit{Caller: "1", Audio: wav})
	require.NoError(t, err)
	require.NoError(t, r.Round(ctx))
	_, err = targets[[2]string{"east", "west"}].Get(ctx, "audio/1001/"+m.ID+".wav")
	require.ErrorIs(t, err, store.ErrNotFound, "the replica lags")
	got, err := svcs["west"].Audio(ctx, "1001", m.ID)
	require.NoError(t, err, "read from the origin while the replica lags")
	assert.Equal(t, wav, got)
	_, err = direct["west"].Blobs.Get(ctx, "audio/1001/"+m.ID+".wav")
	assert.ErrorIs(t, err, store.ErrNotFound, "west never wrote east's audio into its own container")

	// Replicated, then east's blob store is unreachable: west plays its replica.
	r.ResumeBlobs("east")
	require.NoError(t, r.Round(ctx))
	m2, err := svcs["east"].Deposit(ctx, "1001", voicemail.Deposit{Caller: "2", Audio: wav})
	require.NoError(t, err)
	require.NoError(t, r.Round(ctx))
	// A message east stored and west deletes is deleted at east (replicas are read-only).
	m3, err := svcs["east"].Deposit(ctx, "1001", voicemail.Deposit{Caller: "3", Audio: wav})
	require.NoError(t, err)
	require.NoError(t, r.Round(ctx))
	require.NoError(t, svcs["west"].DeleteMessage(ctx, "1001", m3.ID))
	_, err = direct["east"].Blobs.Get(ctx, "audio/1001/"+m3.ID+".wav")
	assert.ErrorIs(t, err, store.ErrNotFound, "deleted at the origin")

	guards["east"].Close()
	for _, id := range []string{m.ID, m2.ID} {
		got, err = svcs["west"].Audio(ctx, "1001", id)
		require.NoError(t, err, "read from the local replica while the origin is down")
		assert.Equal(t, wav, got)
	}
}
