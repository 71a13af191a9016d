package sip

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/audio"
	"github.com/voicemail-platform/voicemail/app/internal/httpapi"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail/voicemailtest"
)

// After a restart the SIP server has seen no mailbox through a call or subscription; an HTTP
// deposit to a mailbox with an MWI target must still send the unsolicited NOTIFY.
func TestSippUnsolicitedMWIAfterRestartForUntouchedMailbox(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	before, _ := voicemailtest.NewWithOptions(t, voicemail.Options{})
	mwiPort := freePort(t)
	_, _, err := before.Provision(ctx, "1077", voicemail.ProvisionRequest{PIN: "2468",
		Notify: voicemail.Notification{MWITarget: "sip:1077@127.0.0.1:" + itoa(mwiPort)}})
	require.NoError(t, err)

	// The restarted process: a new service on the same store, a new SIP server and HTTP API.
	svc, err := voicemail.New(voicemail.Options{AllowGuessablePINs: true, Backend: before.Backend(), Region: "local", MWIDomains: []string{"127.0.0.1"}})
	require.NoError(t, err)
	f := startWith(t, svc, Config{})
	f.log.waitFor(t, 10*time.Second, "mwi watch", map[string]string{"mailbox": "1077"})
	const token = "operator-token-0123456789"
	mux := http.NewServeMux()
	httpapi.New(httpapi.Options{Service: svc, OperatorToken: token}).Register(mux)
	api := httptest.NewServer(mux)
	t.Cleanup(api.Close)

	// The mailbox's phone waits for the NOTIFY; deposit once it listens.
	uas := make(chan error, 1)
	go func() {
		uas <- runSipp(t, "", "mwi_uas.xml", nil, "-p", itoa(mwiPort), "-timeout", "30s")
	}()
	require.Eventually(t, func() bool {
		c, err := net.ListenPacket("udp", "127.0.0.1:"+itoa(mwiPort))
		if err == nil {
			c.Close()
		}
		return err != nil // taken: sipp is listening
	}, 10*time.Second, 50*time.Millisecond, "sipp listens on the MWI target port")

	wav := audio.Encode(audio.ALaw, audio.FromPCM16(audio.ALaw, audio.Tone(440, 1000, 8000)))
	req, err := http.NewRequest(http.MethodPost, api.URL+"/v1/mailboxes/1077/messages", bytes.NewReader(wav))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "audio/wav")
	req.Header.Set("X-Caller-Id", "5550177")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusCreated, res.StatusCode)

	select {
	case err := <-uas:
		require.NoError(t, err, "unsolicited MWI NOTIFY to the mailbox's target")
	case <-time.After(20 * time.Second):
		t.Fatal("MWI target got no NOTIFY")
	}
}
