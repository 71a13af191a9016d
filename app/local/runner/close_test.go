package runner

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/internal/config"
	"github.com/voicemail-platform/voicemail/internal/topology"
)

// Stopping the local system (Ctrl-C of app/cmd/local) with a SIP call in progress: each replica
// gets the pod's grace (shutdown delay, then the longer of the HTTP grace and the SIP drain), so
// the call runs to its end and its recording is stored instead of dying with a SIGKILL.
func TestCloseLetsCallsInProgressFinish(t *testing.T) {
	t.Parallel()
	cfg, err := config.LoadStackFile("../../../Pulumi.dev.yaml")
	require.NoError(t, err)
	topo, err := topology.Build(cfg)
	require.NoError(t, err)
	topo.Stamps = topo.Stamps[:1]
	<-binBuilt
	require.NoError(t, binErr)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := Start(ctx, Options{Topology: topo, VoicemailBin: binPath, Dir: dir, SIP: true, RTPPortBase: 24000,
		HealthCacheTTL: time.Second, Edges: 1, CombinedAzurite: []string{topo.Regions[0].Name}, Log: debugLog()})
	require.NoError(t, err)
	var once sync.Once
	closeAll := func() { once.Do(c.Close) }
	t.Cleanup(closeAll)
	f := &fixture{t: t, c: c}
	const mb = "300900"
	require.NoError(t, f.put(mb))
	f.putGreeting(t, mb)

	caller := newCaller()
	call := make(chan error, 1)
	go func() {
		call <- sippCall(t, c.Stamps[0].SIP, mb, caller, "/usr/share/sip-tester/g711a.pcap", 4*time.Second)
	}()
	r := f.callOn(t, c.Stamps[0], caller)
	closed := make(chan struct{})
	go func() { closeAll(); close(closed) }()
	require.NoError(t, <-call, "the call in progress runs to its end while the system stops")
	<-closed
	stored := false
	for _, line := range strings.Split(r.Log(), "\n") {
		if strings.Contains(line, `"msg":"message stored"`) && strings.Contains(line, `"mailbox":"`+mb+`"`) {
			stored = true
		}
	}
	assert.True(t, stored, "the replica stored the recording before it exited")
}
