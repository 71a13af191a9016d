package imap

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/audio"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail/voicemailtest"
)

// TestGoIMAPClient runs go-imap's client, whose strict parser checks the syntax of what we send
// (BODYSTRUCTURE, ENVELOPE, QUOTA, unilateral EXISTS during IDLE).
func TestGoIMAPClient(t *testing.T) {
	t.Parallel()
	e := startEnv(t, Config{Domain: "vvm.test"})
	mb := voicemailtest.Provision(t, e.svc, testNumber, testPIN)
	m1 := voicemailtest.Deposit(t, e.svc, testNumber, "+15551110001", 2*time.Second)
	ctx := context.Background()

	exists := make(chan uint32, 8)
	c, err := imapclient.DialInsecure(e.addr, &imapclient.Options{
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					exists <- *d.NumMessages
				}
			},
		},
	})
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Login(testNumber, testPIN).Wait())

	sel, err := c.Select("INBOX", nil).Wait()
	require.NoError(t, err)
	assert.EqualValues(t, 1, sel.NumMessages)
	assert.Equal(t, uidValidity(mb.Created, 0), sel.UIDValidity)

	hdr := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Content-Duration", "From"}, Peek: true}
	audioPart := &imap.FetchItemBodySection{Part: []int{2}, Peek: true}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{
		UID: true, Flags: true, Envelope: true, InternalDate: true, RFC822Size: true,
		BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
		BodySection:   []*imap.FetchItemBodySection{hdr, audioPart},
	}).Collect()
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	m := msgs[0]
	assert.Empty(t, m.Flags)
	assert.Equal(t, "Voice message from +15551110001", m.Envelope.Subject)
	require.Len(t, m.Envelope.From, 1)
	assert.Equal(t, "+15551110001@vvm.test", m.Envelope.From[0].Addr())
	assert.Equal(t, m1.ID+"@vvm.test", m.Envelope.MessageID)
	assert.True(t, m.InternalDate.Equal(m1.Received.Truncate(time.Second)))
	mp, ok := m.BodyStructure.(*imap.BodyStructureMultiPart)
	require.True(t, ok, "multipart")
	assert.Equal(t, "multipart/mixed", mp.MediaType())
	require.Len(t, mp.Children, 2)
	text := mp.Children[0].(*imap.BodyStructureSinglePart)
	wavPart := mp.Children[1].(*imap.BodyStructureSinglePart)
	assert.Equal(t, "text/plain", text.MediaType())
	assert.Equal(t, "audio/wav", wavPart.MediaType())
	assert.Equal(t, "base64", strings.ToLower(wavPart.Encoding))
	require.NotNil(t, wavPart.Extended)
	assert.Equal(t, "attachment", strings.ToLower(wavPart.Extended.Disposition.Value))
	assert.Equal(t, "Content-Duration: 2\r\nFrom: <+15551110001@vvm.test>\r\n\r\n", reorderFields(string(m.FindBodySection(hdr))))
	body := m.FindBodySection(audioPart)
	assert.EqualValues(t, len(body), wavPart.Size)
	wav, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(string(body), "\r\n", ""))
	require.NoError(t, err)
	stored, err := e.svc.Audio(ctx, testNumber, m1.ID)
	require.NoError(t, err)
	assert.Equal(t, stored, wav)

	roots, err := c.GetQuotaRoot("INBOX").Wait()
	require.NoError(t, err)
	require.Len(t, roots, 1)
	assert.Equal(t, map[imap.QuotaResourceType]imapclient.QuotaResourceData{"voice": {Usage: 1, Limit: 100}}, roots[0].Resources)

	// IDLE: a deposit arrives as EXISTS.
	idle, err := c.Idle()
	require.NoError(t, err)
	voicemailtest.Deposit(t, e.svc, testNumber, "+15551110002", time.Second)
	select {
	case n := <-exists:
		assert.EqualValues(t, 2, n)
	case <-time.After(10 * time.Second):
		t.Fatal("no EXISTS during IDLE")
	}
	require.NoError(t, idle.Close())
	require.NoError(t, idle.Wait())

	// Mark seen, flag deleted, expunge.
	_, err = c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Collect()
	require.NoError(t, err)
	_, err = c.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Collect()
	require.NoError(t, err)
	expunged, err := c.Expunge().Collect()
	require.NoError(t, err)
	assert.Equal(t, []uint32{2}, expunged)
	got, err := e.svc.Message(ctx, testNumber, m1.ID)
	require.NoError(t, err)
	assert.True(t, got.Heard)

	// APPEND a greeting through go-imap's client too.
	g := voicemailtest.WAV(audio.ULaw, time.Second)
	raw := "X-CNS-Greeting-Type: voice-signature\r\nContent-Type: audio/wav\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		base64.StdEncoding.EncodeToString(g) + "\r\n"
	app := c.Append("Greetings", int64(len(raw)), nil)
	_, err = app.Write([]byte(raw))
	require.NoError(t, err)
	require.NoError(t, app.Close())
	_, err = app.Wait()
	require.NoError(t, err)
	name, err := e.svc.Greeting(ctx, testNumber, voicemail.GreetingName)
	require.NoError(t, err)
	assert.Equal(t, g, name)
	require.NoError(t, c.Logout().Wait())
}

// reorderFields sorts header lines so the assertion holds whatever order they come in.
func reorderFields(h string) string {
	lines := strings.Split(strings.TrimSuffix(h, "\r\n\r\n"), "\r\n")
	for i := range lines {
		for j := i + 1; j < len(lines); j++ {
			if lines[j] < lines[i] {
				lines[i], lines[j] = lines[j], lines[i]
			}
		}
	}
	return strings.Join(lines, "\r\n") + "\r\n\r\n"
}
