package runner

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// imapSyncer syncs a mailbox's INBOX as mbsync and offlineimap do: it keeps UIDVALIDITY and
// UIDNEXT and next time asks only for the UIDs at or above that UIDNEXT, unless UIDVALIDITY
// changed, when it starts over.
type imapSyncer struct {
	mailbox, pin   string
	validity, next uint64
	have           map[uint64]bool // UIDs held
	resyncs        int
}

// sync runs one sync against a stamp's IMAP (through its balancer, so on either replica).
func (c *imapSyncer) sync(sp *StampProc) error {
	conn, err := net.DialTimeout("tcp", sp.IMAP, 2*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	r := bufio.NewReader(conn)
	if greet, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(greet, "* OK") {
		return fmt.Errorf("greeting %q: %v", greet, err)
	}
	tc, r, err := sp.StartTLS(conn, r)
	if err != nil {
		return err
	}
	cmd := func(tag, command string) ([]string, error) {
		fmt.Fprintf(tc, "%s %s\r\n", tag, command)
		var lines []string
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return nil, fmt.Errorf("%s: %w", command, err)
			}
			line = strings.TrimRight(line, "\r\n")
			if strings.HasPrefix(line, tag+" ") {
				if !strings.HasPrefix(line, tag+" OK") {
					return nil, fmt.Errorf("%s: %s", command, line)
				}
				return lines, nil
			}
			lines = append(lines, line)
		}
	}
	if _, err := cmd("a1", "LOGIN "+c.mailbox+" "+c.pin); err != nil {
		return err
	}
	sel, err := cmd("a2", "SELECT INBOX")
	if err != nil {
		return err
	}
	var validity, next uint64
	for _, l := range sel {
		if v, ok := strings.CutPrefix(l, "* OK [UIDVALIDITY "); ok {
			validity, _ = strconv.ParseUint(strings.Split(v, "]")[0], 10, 32)
		}
		if v, ok := strings.CutPrefix(l, "* OK [UIDNEXT "); ok {
			next, _ = strconv.ParseUint(strings.Split(v, "]")[0], 10, 32)
		}
	}
	if validity == 0 || next == 0 {
		return fmt.Errorf("SELECT without UIDVALIDITY or UIDNEXT: %q", sel)
	}
	full := c.have == nil || validity != c.validity
	search := fmt.Sprintf("UID SEARCH UID %d:*", c.next)
	if full {
		search = "UID SEARCH ALL"
	}
	found, err := cmd("a3", search)
	if err != nil {
		return err
	}
	if full {
		if c.have != nil {
			c.resyncs++
		}
		c.have = map[uint64]bool{}
	}
	for _, l := range found {
		for _, f := range strings.Fields(strings.TrimPrefix(l, "* SEARCH")) {
			// n:* includes the greatest UID even below n (RFC 3501 6.4.8), so clients filter.
			if u, err := strconv.ParseUint(f, 10, 32); err == nil && (full || u >= c.next) {
				c.have[u] = true
			}
		}
	}
	c.validity, c.next = validity, next
	_, _ = cmd("a4", "LOGOUT")
	return nil
}

// imapUIDsUnderPartition: UIDs ascend as messages are added, across regions (RFC 3501
// 2.3.1.1). While the regions are partitioned, region b takes M1 and then region a takes M2;
// a client syncs a's IMAP once M2 shows. After the heal M1 reaches a beneath M2's UID: a's
// IMAP places it above UIDNEXT, and the client's next syncs (only new UIDs, whichever replica
// they land on) get it with UIDVALIDITY unchanged; b's IMAP agrees on UIDVALIDITY and every
// UID. Without a partition, M1 and M2 deposited back to back in the two regions both reach a
// client of a's IMAP that syncs only new UIDs.
func imapUIDsUnderPartition(t *testing.T, f *fixture, a, b *Region) {
	ctx := context.Background()
	c := f.c
	aStamp, bStamp := c.StampsIn(a.Name)[0], c.StampsIn(b.Name)[0]
	const mb, inOrder = "399997", "399996"
	const shows = 30 * time.Second // the visibility delay (5 s), replication and load
	f.provision(mb)
	f.provision(inOrder)
	f.eventually(t, shows, "mailboxes in both regions", func() error {
		for _, r := range []*Region{a, b} {
			for _, n := range []string{mb, inOrder} {
				if _, err := f.regionService(r).Mailbox(ctx, n); err != nil {
					return err
				}
			}
		}
		return nil
	})

	// Within the delay: replication lag (about a round of the replicator) is below it.
	start := time.Now()
	_, ok := f.load.depositOnce(ctx, bStamp.URL(), inOrder)
	require.True(t, ok)
	_, ok = f.load.depositOnce(ctx, aStamp.URL(), inOrder)
	require.True(t, ok)
	plain := imapSyncer{mailbox: inOrder, pin: f.load.pin}
	f.eventually(t, shows, "both messages reach a client syncing new UIDs in "+a.Name, func() error {
		if err := plain.sync(aStamp); err != nil {
			return err
		}
		if len(plain.have) != 2 {
			return fmt.Errorf("client holds UIDs %v", plain.have)
		}
		return nil
	})
	inOrderAfter := time.Since(start)

	// Beyond the delay: a partition.
	c.Repl.Partition(a.Name, b.Name)
	healed := false
	defer func() {
		if !healed {
			c.Repl.Heal()
		}
	}()
	m1, ok := f.load.depositOnce(ctx, bStamp.URL(), mb)
	require.True(t, ok)
	m2, ok := f.load.depositOnce(ctx, aStamp.URL(), mb)
	require.True(t, ok)
	require.Less(t, m1.id, m2.id, "M1 is deposited first")
	client := imapSyncer{mailbox: mb, pin: f.load.pin}
	f.eventually(t, shows, "M2 shows over IMAP in "+a.Name, func() error {
		if err := client.sync(aStamp); err != nil {
			return err
		}
		if len(client.have) != 1 {
			return fmt.Errorf("client holds UIDs %v", client.have)
		}
		return nil
	})
	before := client.validity
	snap, err := f.regionService(a).Snapshot(ctx, mb)
	require.NoError(t, err)
	require.NotEmpty(t, snap.Shown, "what INBOX showed is recorded before the answer")

	heal := time.Now()
	c.Repl.Heal()
	healed = true
	f.eventually(t, shows, "M1 reaches "+a.Name, func() error {
		_, err := f.regionService(a).Message(ctx, mb, m1.id)
		return err
	})
	f.eventually(t, shows, "the client gets M1 after the heal", func() error {
		if err := client.sync(aStamp); err != nil {
			return err
		}
		if len(client.have) != 2 {
			return fmt.Errorf("client holds UIDs %v under UIDVALIDITY %d", client.have, client.validity)
		}
		return nil
	})
	afterHeal := time.Since(heal)
	assert.Zero(t, client.resyncs, "M1 was placed above UIDNEXT; UIDVALIDITY stays")
	assert.Equal(t, before, client.validity)
	other := imapSyncer{mailbox: mb, pin: f.load.pin}
	f.eventually(t, shows, b.Name+"'s IMAP agrees on UIDVALIDITY and the UIDs", func() error {
		if err := other.sync(bStamp); err != nil {
			return err
		}
		if other.validity != client.validity || !maps.Equal(other.have, client.have) {
			return fmt.Errorf("%s: UIDVALIDITY %d, UIDs %v; %s: UIDVALIDITY %d, UIDs %v",
				b.Name, other.validity, other.have, a.Name, client.validity, client.have)
		}
		return nil
	})
	t.Logf("FAILURE-CASE 11 imap-uids-under-partition in_order_synced_after=%.2fs in_order_resyncs=%d resyncs=%d uidvalidity=%d->%d client_has_both_after_heal=%.2fs (M1 reached %s beneath M2, placed above UIDNEXT)",
		inOrderAfter.Seconds(), plain.resyncs, client.resyncs, before, client.validity, afterHeal.Seconds(), a.Name)
}
