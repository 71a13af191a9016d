package runner

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/store"
	"github.com/voicemail-platform/voicemail/app/internal/store/azure"
	"github.com/voicemail-platform/voicemail/app/local/azurite"
	"github.com/voicemail-platform/voicemail/internal/topology"
)

// playHTTP fetches a message's audio from a stamp's HTTP API.
func playHTTP(c *Cluster, sp *StampProc, mailbox, id string) ([]byte, error) {
	req, err := http.NewRequest(http.MethodGet, sp.URL()+"/v1/mailboxes/"+mailbox+"/messages/"+id+"/audio", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	res, err := sp.HTTPClient(10 * time.Second).Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET audio: %d %s", res.StatusCode, b)
	}
	return b, err
}

// playIMAP logs into mailbox on a stamp's IMAP and returns the audio part of message seq.
func playIMAP(sp *StampProc, mailbox, pin string, seq int) ([]byte, error) {
	conn, err := net.DialTimeout("tcp", sp.IMAP, 2*time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	r := bufio.NewReader(conn)
	if greet, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(greet, "* OK") {
		return nil, fmt.Errorf("greeting %q: %v", greet, err)
	}
	tc, r, err := sp.StartTLS(conn, r)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(tc, "a1 LOGIN %s %s\r\na2 SELECT INBOX\r\na3 FETCH %d (BODY.PEEK[2])\r\na4 LOGOUT\r\n", mailbox, pin, seq)
	var part []byte
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("imap: %w", err)
		}
		if i := strings.LastIndexByte(line, '{'); i >= 0 && strings.HasSuffix(line, "}\r\n") && strings.HasPrefix(line, "* ") {
			n, err := strconv.Atoi(line[i+1 : len(line)-3])
			if err != nil {
				return nil, fmt.Errorf("imap literal %q", line)
			}
			part = make([]byte, n)
			if _, err := io.ReadFull(r, part); err != nil {
				return nil, err
			}
			continue
		}
		for _, tag := range []string{"a1 ", "a2 ", "a3 "} {
			if strings.HasPrefix(line, tag) && !strings.HasPrefix(line, tag+"OK") {
				return nil, fmt.Errorf("imap: %s", strings.TrimSpace(line))
			}
		}
		if strings.HasPrefix(line, "a4 ") {
			break
		}
	}
	return base64.StdEncoding.DecodeString(string(bytes.ReplaceAll(part, []byte("\r\n"), nil)))
}

// crossRegionPlayback: a message deposited in region A while A's replica of its audio lags is
// played from a region-B stamp over HTTP and IMAP (the audio comes from A's own container, the
// message names its origin); once replicated, B plays it from its replica container while A's
// Blob service is down. Rows cross at once; object replication lags behind them, as in Azure.
func crossRegionPlayback(t *testing.T, f *fixture, a, b *Region) {
	ctx := context.Background()
	c := f.c
	aStamp, bStamp := c.StampsIn(a.Name)[0], c.StampsIn(b.Name)[0]
	const mb = "399998"
	f.provisionEverywhere(t, mb)
	replica, err := azure.Open(ctx, azure.Config{ConnectionString: b.Azurite.ConnectionString(), AudioContainer: topology.ReplicaContainer(a.Name)})
	require.NoError(t, err)
	audioName := func(id string) string { return "audio/" + mb + "/" + id + ".wav" }

	c.Repl.PauseBlobs(a.Name)
	resumed := false
	defer func() {
		if !resumed {
			c.Repl.ResumeBlobs(a.Name)
		}
	}()
	d, ok := f.load.depositOnce(ctx, aStamp.URL(), mb)
	require.True(t, ok, "deposit in %s", a.Name)
	f.replicated(t, "the message's row reaches "+b.Name, func() error {
		_, err := f.regionService(b).Message(ctx, mb, d.id)
		return err
	})
	_, err = replica.Blobs.Get(ctx, audioName(d.id))
	require.ErrorIs(t, err, store.ErrNotFound, "%s's replica of the audio lags", b.Name)

	got, err := playHTTP(c, bStamp, mb, d.id)
	require.NoError(t, err, "HTTP playback in %s while the replica lags", b.Name)
	assert.Equal(t, f.load.wav, got)
	// IMAP shows the message once its deposit time is VOICEMAIL_IMAP_VISIBILITY_DELAY old.
	f.eventually(t, 30*time.Second, "IMAP playback in "+b.Name+" while the replica lags", func() error {
		got, err = playIMAP(bStamp, mb, f.load.pin, 1)
		if err == nil && len(got) == 0 {
			err = errors.New("INBOX does not show the message yet")
		}
		return err
	})
	assert.Equal(t, f.load.wav, got)

	c.Repl.ResumeBlobs(a.Name)
	resumed = true
	f.replicated(t, "the audio reaches "+b.Name+"'s replica container", func() error {
		_, err := replica.Blobs.Get(ctx, audioName(d.id))
		return err
	})
	require.NoError(t, a.Azurite.Stop(azurite.Blob))
	defer func() { require.NoError(t, a.Azurite.Restart(ctx, azurite.Blob)) }()
	got, err = playHTTP(c, bStamp, mb, d.id)
	require.NoError(t, err, "HTTP playback in %s during %s's blob outage", b.Name, a.Name)
	assert.Equal(t, f.load.wav, got)
	got, err = playIMAP(bStamp, mb, f.load.pin, 1)
	require.NoError(t, err, "IMAP playback in %s during %s's blob outage", b.Name, a.Name)
	assert.Equal(t, f.load.wav, got)
	t.Logf("FAILURE-CASE 10 cross-region-playback message=%s origin=%s played_in=%s (HTTP, IMAP) replica_lagging=ok origin_blob_down=ok", d.id, a.Name, b.Name)
}
