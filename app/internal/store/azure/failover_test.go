package azure_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/store"
	"github.com/voicemail-platform/voicemail/app/internal/store/azure"
	"github.com/voicemail-platform/voicemail/app/local/azurite"
	"github.com/voicemail-platform/voicemail/app/local/faultproxy"
)

// A stamp's Table client with the account's other regional endpoints as fallbacks (Cosmos DB
// for Table with multi-region writes: each region its endpoint): while the region's endpoint
// refuses connections or hangs, reads and writes go on through the next endpoint, and nothing
// written there is lost. Here both endpoints reach the package's Azurite, the region's through
// a fault proxy; the test is about the client's failover, replication is Cosmos DB's.
func TestTableFailsOverToTheNextRegionEndpoint(t *testing.T) {
	ctx := context.Background()
	direct := az.Endpoint(azurite.Table)
	p, err := faultproxy.New(strings.TrimPrefix(strings.TrimSuffix(direct, "/"+azurite.Account), "http://"))
	require.NoError(t, err)
	t.Cleanup(p.Close)
	regional := "http://" + p.Addr() + "/" + azurite.Account
	cfg := config(strings.Replace(az.ConnectionString(), direct, regional, 1))
	cfg.TableFallbackEndpoints = []string{direct}
	cfg.Retry = &policy.RetryOptions{MaxRetries: 1, RetryDelay: 50 * time.Millisecond, TryTimeout: 2 * time.Second}
	var logs bytes.Buffer
	cfg.Log = slog.New(slog.NewJSONHandler(&logs, nil))
	// Each fault with a new client: the first request meets the fault at the region's endpoint.
	open := func() *store.Backend {
		b, err := azure.Open(ctx, cfg)
		require.NoError(t, err)
		return b
	}
	b := open()
	put := func(b *store.Backend, key, value string) error {
		_, err := b.Meta.Update(ctx, "p", key, func([]byte) ([]byte, error) { return []byte(value), nil })
		return err
	}
	require.NoError(t, put(b, "before", "1"))

	for _, c := range []struct {
		name  string
		fault func()
	}{{"refused", p.Refuse}, {"hanging", p.BlackHole}} {
		b := open()
		c.fault()
		err := put(b, "during-"+c.name, c.name)
		if c.name == "hanging" && err != nil {
			// A request already sent into the hang fails at its try timeout; the endpoint is
			// then passed over and the next request goes to the fallback.
			err = put(b, "during-"+c.name, c.name)
		}
		require.NoError(t, err, "write through the fallback endpoint while the region's endpoint is %s", c.name)
		assert.Contains(t, logs.String(), `"msg":"`+azure.EndpointPassedOver+`","endpoint":"`+p.Addr()+`","home":true`,
			"operators see the stamp pass its own region's endpoint over")
		logs.Reset()
		row, err := b.Meta.Get(ctx, "p", "before")
		require.NoError(t, err, "read through the fallback endpoint while the region's endpoint is %s", c.name)
		assert.Equal(t, "1", string(row.Data))
		p.Restore()
	}
	for _, k := range []string{"during-refused", "during-hanging"} {
		row, err := b.Meta.Get(ctx, "p", k)
		require.NoError(t, err)
		assert.NotEmpty(t, row.Data)
	}
}
