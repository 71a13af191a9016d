package azure_test

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/store/azure"
)

// staticCred is a token credential that hands out a fixed token and counts the requests.
type staticCred struct{ calls atomic.Int32 }

func (c *staticCred) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.calls.Add(1)
	return azcore.AccessToken{Token: "t", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// In Azure the program creates the table, containers and queues; a pod must start while
// storage is unreachable (then deposits take the queue path or wait), so Open makes no call.
func TestOpenInAzureMakesNoCall(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var accepted atomic.Int32
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close() // storage is down
		}
	}()
	defer l.Close()
	ep := "https://" + l.Addr().String() + "/"
	cred := &staticCred{}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b, err := azure.Open(ctx, azure.Config{TableEndpoint: ep, BlobEndpoint: ep, QueueEndpoint: ep, Credential: cred})
	require.NoError(t, err, "a pod must start while storage is down")
	require.NotNil(t, b)
	assert.Zero(t, accepted.Load(), "Open contacted storage")
	assert.Zero(t, cred.calls.Load(), "Open asked for a token")
}
