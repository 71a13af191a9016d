package runner

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/internal/config"
	"github.com/voicemail-platform/voicemail/internal/topology"
)

// The local edge finds the stamps as an SBC does, through the SRV sets the program publishes:
// a stamp drained in the stack is neither a SIP nor an IMAP target, and priority and weight are
// the records'.
func TestEdgeTargetsFollowThePublishedSRVSets(t *testing.T) {
	cfg, err := config.LoadStackFile("../../../Pulumi.prod.yaml")
	require.NoError(t, err)
	require.Greater(t, len(cfg.Stamps), 2)
	cfg.Stamps[1].Drained = true
	cfg.Stamps[2].Weight = 7
	topo, err := topology.Build(cfg)
	require.NoError(t, err)
	var stamps []*StampProc
	for i, s := range topo.Stamps {
		stamps = append(stamps, &StampProc{Stamp: s, SIP: fmt.Sprintf("127.0.1.%d:5060", i+1),
			IMAP: fmt.Sprintf("127.0.1.%d:143", i+1), HTTP: fmt.Sprintf("127.0.1.%d:443", i+1)})
	}

	sip, err := edgeSIPTargets(topo, stamps)
	require.NoError(t, err)
	imap, err := edgeIMAPStamps(topo, stamps)
	require.NoError(t, err)
	require.Len(t, sip, len(stamps)-1, "every stamp but the drained one")
	require.Len(t, imap, len(stamps)-1)
	for _, tg := range sip {
		assert.NotEqual(t, "sip:"+stamps[1].SIP, tg.URI, "the drained stamp is no SIP target")
	}
	for _, s := range imap {
		assert.NotEqual(t, stamps[1].Stamp.ID, s.Name, "the drained stamp is no IMAP target")
	}
	byURI := map[string]int{}
	for _, tg := range sip {
		byURI[tg.URI] = tg.Weight
		assert.Equal(t, stampProcByAddr(stamps, tg.URI).Stamp.RegionIndex+1, tg.Priority, tg.URI)
	}
	assert.Equal(t, 7, byURI["sip:"+stamps[2].SIP])
}

func stampProcByAddr(stamps []*StampProc, uri string) *StampProc {
	for _, sp := range stamps {
		if "sip:"+sp.SIP == uri {
			return sp
		}
	}
	return nil
}
