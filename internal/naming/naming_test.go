package naming_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/voicemail-platform/voicemail/internal/naming"
)

func TestCheck(t *testing.T) {
	cases := []struct {
		kind naming.Kind
		name string
		ok   bool
	}{
		{naming.StorageAccount, "stvmpprodeus2", true},
		{naming.StorageAccount, "st", false},
		{naming.StorageAccount, strings.Repeat("a", 25), false},
		{naming.StorageAccount, "st-vmp", false},
		{naming.StorageAccount, "StVmp", false},
		{naming.KeyVault, "kv-vmp-prod-eus2", true},
		{naming.KeyVault, "kv--vmp", false},
		{naming.KeyVault, "1kv", false},
		{naming.KeyVault, "kv-vmp-prod-eus2-toolong1", false},
		{naming.ContainerRegistry, "acrvmpprod", true},
		{naming.ContainerRegistry, "acr-vmp", false},
		{naming.ContainerRegistry, "acr", false},
		{naming.CosmosAccount, "cosmos-vmp-prod", true},
		{naming.CosmosAccount, "Cosmos", false},
		{naming.DNSLabel, "vmp-prod-eus2-z1-v1", true},
		{naming.DNSLabel, "1vmp", false},
		{naming.DNSLabel, "vmp-", false},
		{naming.ResourceGroup, "rg-vmp-prod-global", true},
		{naming.ResourceGroup, "rg.", false},
		{naming.ManagedCluster, "aks-vmp-prod-eus2-z1-v1", true},
		{naming.ManagedCluster, strings.Repeat("a", 64), false},
		{naming.ComputerPrefix, "jumpeus2", true},
		{naming.ComputerPrefix, "jump-box-too-long-x", false},
		{naming.CosmosTable, "mailboxes", true},
		{naming.CosmosTable, "mail-boxes", false},
		{naming.BlobContainer, "audio", true},
		{naming.BlobContainer, "Audio", false},
	}
	for _, tc := range cases {
		err := naming.Check(tc.kind, tc.name)
		if tc.ok {
			assert.NoError(t, err, "%s %q", tc.kind, tc.name)
		} else {
			assert.Error(t, err, "%s %q", tc.kind, tc.name)
		}
	}
	assert.Error(t, naming.Check("no such kind", "x"))
}

func TestGUID(t *testing.T) {
	g := naming.GUID("role", "eastus2-z1-v1/app-blob")
	assert.Regexp(t, regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`), g)
	assert.Equal(t, g, naming.GUID("role", "eastus2-z1-v1/app-blob"), "deterministic")
	assert.NotEqual(t, g, naming.GUID("role", "eastus2-z2-v1/app-blob"))
	assert.NotEqual(t, naming.GUID("a", "bc"), naming.GUID("ab", "c"), "parts are separated")
}

func TestRegionShort(t *testing.T) {
	s, ok := naming.RegionShort("eastus2")
	assert.True(t, ok)
	assert.Equal(t, "eus2", s)
	_, ok = naming.RegionShort("marsnorth")
	assert.False(t, ok)
}
