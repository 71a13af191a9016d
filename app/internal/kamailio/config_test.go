package kamailio

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every generated configuration passes kamailio's own check (kamailio -c), for both roles and
// with TLS.
func TestRenderPassesKamailioCheck(t *testing.T) {
	t.Parallel()
	cases := map[string]Config{
		"stamp": {Role: RoleStamp, Listen: []Listen{{Proto: "udp", Addr: "127.0.0.1:5060"}, {Proto: "tcp", Addr: "127.0.0.1:5060", Advertise: "10.0.0.4:5060"}},
			Targets: []Target{{URI: "sip:127.0.0.2:5060"}, {URI: "sip:127.0.0.3:5060"}}},
		"edge": {Role: RoleEdge, Listen: []Listen{{Proto: "tcp", Addr: "127.0.0.1:5070"}},
			Targets: []Target{{URI: "sip:a.example:5060;transport=tcp", Priority: 1, Weight: 50}, {URI: "sip:b.example:5060;transport=tcp", Priority: 2}}},
		"no targets":    {Role: RoleStamp, Listen: []Listen{{Proto: "udp", Addr: "127.0.0.1:5060"}}},
		"trusted peers": {Role: RoleStamp, Listen: []Listen{{Proto: "udp", Addr: "127.0.0.1:5060"}}, TrustedPeers: []string{"192.0.2.0/28", "2001:db8::/48"}},
		"reloaded":      {Role: RoleStamp, Listen: []Listen{{Proto: "tcp", Addr: "0.0.0.0:5060", Advertise: "10.1.15.250:5060"}}, ReloadInterval: 10 * time.Second},
	}
	for name, cfg := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			cfg.ListFile = filepath.Join(dir, "dispatcher.list")
			path, err := Write(dir, cfg)
			require.NoError(t, err)
			out, err := exec.CommandContext(context.Background(), Binary, "-c", "-f", path).CombinedOutput()
			require.NoError(t, err, "%s", out)
		})
	}
}

func TestListGroupsPrioritiesIntoSets(t *testing.T) {
	cfg := Config{Role: RoleEdge, Targets: []Target{{URI: "sip:b", Priority: 2, Weight: 10}, {URI: "sip:a", Priority: 1}, {URI: "sip:c", Priority: 2, Weight: 30}}}
	assert.Equal(t, "# setid destination flags priority attrs (generated)\n1 sip:a 0 0 weight=1\n2 sip:b 0 0 weight=10\n2 sip:c 0 0 weight=30\n", cfg.List())
}

func TestValidateNamesTheField(t *testing.T) {
	base := Config{Role: RoleStamp, ListFile: "x", Listen: []Listen{{Proto: "udp", Addr: "127.0.0.1:5060"}}}
	for name, tc := range map[string]struct {
		mut  func(*Config)
		want string
	}{
		"role":   {func(c *Config) { c.Role = "x" }, "role"},
		"proto":  {func(c *Config) { c.Listen[0].Proto = "sctp" }, "proto"},
		"target": {func(c *Config) { c.Targets = []Target{{URI: "http://x"}} }, "not a SIP URI"},
		"quote":  {func(c *Config) { c.Targets = []Target{{URI: `sip:a";x`}} }, "quotes"},
		"weight": {func(c *Config) { c.Targets = []Target{{URI: "sip:a", Weight: 101}} }, "weight"},
		"peer":   {func(c *Config) { c.TrustedPeers = []string{"192.0.2.1/28"} }, "trusted peer"},
		"inject": {func(c *Config) { c.TrustedPeers = []string{`192.0.2.0/28");exit;#`} }, "trusted peer"},
	} {
		c := base
		c.Listen = append([]Listen(nil), base.Listen...)
		tc.mut(&c)
		assert.ErrorContains(t, c.Validate(), tc.want, name)
	}
}

func TestValidateTLS(t *testing.T) {
	base := Config{Role: RoleStamp, ListFile: "/x", Listen: []Listen{{Proto: "tls", Addr: "127.0.0.1:5061"}}}
	assert.ErrorContains(t, base.Validate(), "TLS.CertFile")
	noTLS := Config{Role: RoleStamp, ListFile: "/x", Listen: []Listen{{Proto: "tcp", Addr: "127.0.0.1:5060"}}, TLS: &TLS{CertFile: "c", KeyFile: "k", ConfigFile: "t"}}
	assert.ErrorContains(t, noTLS.Validate(), "no listener is tls")
}
