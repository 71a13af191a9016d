package azure_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/health"
	"github.com/voicemail-platform/voicemail/app/internal/store"
	"github.com/voicemail-platform/voicemail/app/internal/store/azure"
	"github.com/voicemail-platform/voicemail/app/local/azurite"
)

// newHealth checks b on every call (no cache), as a stamp would after each cache window.
func newHealth(b *store.Backend) *health.Service {
	return health.New(health.Options{Backend: b, Stamp: "weu-1", Region: "westeurope", CacheTTL: time.Nanosecond, Timeout: 3 * time.Second})
}

// TestHealthNamesTheFailedQueue stops the real queue service: the stamp turns unhealthy naming
// only the queue, and recovers when it is back. (The table and blob outages are checked the
// same way in the durability tests, which stop those services.)
func TestHealthNamesTheFailedQueue(t *testing.T) {
	ctx := context.Background()
	b, err := azure.Open(ctx, config(az.ConnectionString()))
	require.NoError(t, err)
	hs := newHealth(b)
	require.True(t, hs.Check(ctx).Healthy(), "%+v", hs.Check(ctx))

	require.NoError(t, az.Stop(azurite.Queue))
	rep := hs.Check(ctx)
	assert.False(t, rep.Healthy())
	assert.Equal(t, []string{health.Queue}, rep.Unhealthy)
	require.NoError(t, az.Restart(ctx, azurite.Queue))
	require.True(t, hs.Check(ctx).Healthy(), "recovered after the queue restart")

	require.NoError(t, b.State.Remove(ctx))
	rep = hs.Check(ctx)
	assert.Equal(t, []string{health.State}, rep.Unhealthy, "removing the state blob drains the stamp")
	require.NoError(t, b.State.Write(ctx))
	assert.True(t, hs.Check(ctx).Healthy())
}
