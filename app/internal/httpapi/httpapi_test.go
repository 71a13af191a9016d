package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/audio"
	"github.com/voicemail-platform/voicemail/app/internal/httpapi"
	vm "github.com/voicemail-platform/voicemail/app/internal/voicemail"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail/voicemailtest"
)

const token = "op-secret"

type client struct {
	t   *testing.T
	url string
	svc *vm.Service
}

func setup(t *testing.T, opt vm.Options) *client {
	svc, _ := voicemailtest.NewWithOptions(t, opt)
	mux := http.NewServeMux()
	httpapi.New(httpapi.Options{Service: svc, OperatorToken: token}).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &client{t: t, url: srv.URL, svc: svc}
}

type auth func(*http.Request)

func operator(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
func basic(number, pin string) auth {
	return func(r *http.Request) { r.SetBasicAuth(number, pin) }
}
func none(*http.Request) {}

func (c *client) do(method, path string, a auth, contentType string, body []byte, hdr ...string) (*http.Response, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.url+path, bytes.NewReader(body))
	require.NoError(c.t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	a(req)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	return resp, b
}

func (c *client) json(method, path string, a auth, body string) (*http.Response, map[string]any) {
	c.t.Helper()
	resp, b := c.do(method, path, a, "application/json", []byte(body))
	var v map[string]any
	if len(b) > 0 {
		require.NoError(c.t, json.Unmarshal(b, &v), string(b))
	}
	return resp, v
}

func errCode(v map[string]any) string {
	e, _ := v["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func wav(d time.Duration) []byte { return voicemailtest.WAV(audio.ALaw, d) }

func TestMailboxLifecycle(t *testing.T) {
	c := setup(t, vm.Options{})
	resp, v := c.json("PUT", "/v1/mailboxes/4930111", none, `{"pin":"1234"}`)
	assert.Equal(t, 401, resp.StatusCode)
	assert.Equal(t, "unauthorized", errCode(v))

	resp, v = c.json("PUT", "/v1/mailboxes/4930111", operator, `{"pin":"1234","displayName":"Ann","maxMessages":3}`)
	require.Equal(t, 201, resp.StatusCode, v)
	assert.Equal(t, "Ann", v["displayName"])
	assert.Equal(t, "/v1/mailboxes/4930111", resp.Header.Get("Location"))
	resp, _ = c.json("PUT", "/v1/mailboxes/4930111", operator, `{"pin":"1234","displayName":"Ann B","maxMessages":3}`)
	assert.Equal(t, 200, resp.StatusCode, "re-provisioning replaces settings")

	for _, tc := range []struct {
		body, code string
		status     int
	}{
		{`{"pin":"12"}`, "invalid", 400},
		{`{"pin":"1234","colour":"red"}`, "bad_json", 400},
		{`{"pin":`, "bad_json", 400},
		{`{"pin":"1234"} {}`, "bad_json", 400},
	} {
		resp, v = c.json("PUT", "/v1/mailboxes/4930112", operator, tc.body)
		assert.Equal(t, tc.status, resp.StatusCode, tc.body)
		assert.Equal(t, tc.code, errCode(v), tc.body)
	}
	resp, b := c.do("PUT", "/v1/mailboxes/4930112", operator, "text/plain", []byte(`{"pin":"1234"}`))
	assert.Equal(t, 415, resp.StatusCode, string(b))
	resp, v = c.json("PUT", "/v1/mailboxes/x1", operator, `{"pin":"1234"}`)
	assert.Equal(t, 400, resp.StatusCode)

	resp, v = c.json("GET", "/v1/mailboxes/4930111", basic("4930111", "1234"), "")
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "Ann B", v["displayName"])
	resp, v = c.json("PATCH", "/v1/mailboxes/4930111", basic("4930111", "1234"), `{"activeGreeting":"busy","pin":"5678"}`)
	require.Equal(t, 200, resp.StatusCode, v)
	assert.Equal(t, "busy", v["activeGreeting"])
	resp, v = c.json("PATCH", "/v1/mailboxes/4930111", basic("4930111", "5678"), `{"maxMessages":1000}`)
	assert.Equal(t, 403, resp.StatusCode, "subscribers cannot raise limits")
	resp, v = c.json("PATCH", "/v1/mailboxes/4930111", operator, `{"maxMessages":1000}`)
	assert.Equal(t, 200, resp.StatusCode)
	resp, v = c.json("DELETE", "/v1/mailboxes/4930111", basic("4930111", "5678"), "")
	assert.Equal(t, 401, resp.StatusCode, "only operators remove mailboxes")
	resp, _ = c.json("DELETE", "/v1/mailboxes/4930111", operator, "")
	assert.Equal(t, 204, resp.StatusCode)
	resp, v = c.json("GET", "/v1/mailboxes/4930111", operator, "")
	assert.Equal(t, 404, resp.StatusCode)
	assert.Equal(t, "not_found", errCode(v))

	resp, v = c.json("POST", "/v1/mailboxes/4930111", operator, "")
	assert.Equal(t, 405, resp.StatusCode)
	assert.Equal(t, "method_not_allowed", errCode(v))
	assert.Contains(t, resp.Header.Get("Allow"), "PUT")
	resp, v = c.json("GET", "/v1/nothing", operator, "")
	assert.Equal(t, 404, resp.StatusCode)
	assert.Equal(t, "route_not_found", errCode(v))
}

func TestSubscriberAuthAndThrottling(t *testing.T) {
	c := setup(t, vm.Options{Auth: vm.AuthPolicy{FreeFailures: 2, FailureDelay: time.Millisecond}})
	voicemailtest.Provision(t, c.svc, "4930111", "1234")
	voicemailtest.Provision(t, c.svc, "4930222", "1234")
	resp, v := c.json("GET", "/v1/mailboxes/4930111/messages", basic("4930222", "1234"), "")
	assert.Equal(t, 403, resp.StatusCode, "credentials for another mailbox")
	resp, v = c.json("GET", "/v1/mailboxes/4930111/messages", none, "")
	assert.Equal(t, 401, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("WWW-Authenticate"), "Basic")
	resp, v = c.json("GET", "/v1/mailboxes/4939999/messages", basic("4939999", "1234"), "")
	assert.Equal(t, 401, resp.StatusCode, "unknown numbers look like wrong PINs")
	for range 2 {
		resp, v = c.json("GET", "/v1/mailboxes/4930111/messages", basic("4930111", "0000"), "")
		assert.Equal(t, 401, resp.StatusCode)
	}
	resp, v = c.json("GET", "/v1/mailboxes/4930111/messages", basic("4930111", "1234"), "")
	assert.Equal(t, 429, resp.StatusCode, "this client must wait, even with the right PIN")
	assert.Equal(t, "throttled", errCode(v))
	assert.NotEmpty(t, resp.Header.Get("Retry-After"))
	assert.NoError(t, c.svc.Login(vm.WithSource(context.Background(), "ip:192.0.2.77"), "4930111", "1234"),
		"the mailbox is not locked: its owner elsewhere gets in")
}

func TestGreetingsAndMessages(t *testing.T) {
	c := setup(t, vm.Options{})
	_, _, err := c.svc.Provision(context.Background(), "4930111", vm.ProvisionRequest{PIN: "1234", MaxMessages: 2, MaxMessageSeconds: 4})
	require.NoError(t, err)
	sub := basic("4930111", "1234")

	g := wav(time.Second)
	resp, b := c.do("PUT", "/v1/mailboxes/4930111/greetings/unavailable", sub, "audio/wav", g)
	require.Equal(t, 204, resp.StatusCode, string(b))
	resp, b = c.do("GET", "/v1/mailboxes/4930111/greetings/unavailable", sub, "", nil)
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "audio/wav", resp.Header.Get("Content-Type"))
	assert.Equal(t, g, b)
	resp, _ = c.do("PUT", "/v1/mailboxes/4930111/greetings/busy", sub, "application/octet-stream", g)
	assert.Equal(t, 415, resp.StatusCode)
	resp, _ = c.do("PUT", "/v1/mailboxes/4930111/greetings/busy", sub, "audio/wav", []byte("RIFFxxxxWAVEjunkjunk"))
	assert.Equal(t, 422, resp.StatusCode)
	resp, _ = c.do("PUT", "/v1/mailboxes/4930111/greetings/loud", sub, "audio/wav", g)
	assert.Equal(t, 404, resp.StatusCode)
	resp, _ = c.do("GET", "/v1/mailboxes/4930111/greetings/busy", sub, "", nil)
	assert.Equal(t, 404, resp.StatusCode)
	resp, _ = c.do("DELETE", "/v1/mailboxes/4930111/greetings/unavailable", sub, "", nil)
	assert.Equal(t, 204, resp.StatusCode)

	// Deposits: operator only, validated, nothing stored on failure.
	resp, _ = c.do("POST", "/v1/mailboxes/4930111/messages", sub, "audio/wav", wav(time.Second))
	assert.Equal(t, 401, resp.StatusCode)
	for _, tc := range []struct {
		name, ct string
		body     []byte
		status   int
		code     string
	}{
		{"wrong type", "text/plain", wav(time.Second), 415, "unsupported_media_type"},
		{"malformed", "audio/wav", []byte("RIFF\x00\x00\x00\x00WAVEfmt "), 422, "bad_audio"},
		{"16 kHz", "audio/wav", func() []byte { w := wav(time.Second); w[24] = 0x80; w[25] = 0x3e; return w }(), 422, "bad_audio"},
		{"too long", "audio/wav", wav(5500 * time.Millisecond), 413, "too_long"},
		{"oversized body", "audio/wav", bytes.Repeat([]byte{0}, 1_200_000), 413, "too_large"},
	} {
		resp, b := c.do("POST", "/v1/mailboxes/4930111/messages", operator, tc.ct, tc.body)
		assert.Equal(t, tc.status, resp.StatusCode, tc.name+": "+string(b))
		assert.Contains(t, string(b), `"code":"`+tc.code+`"`, tc.name)
	}
	list, err := c.svc.Messages(context.Background(), "4930111", "")
	require.NoError(t, err)
	assert.Empty(t, list, "failed deposits store nothing")

	var ids []string
	for i := range 2 {
		resp, b := c.do("POST", "/v1/mailboxes/4930111/messages", operator, "audio/wav", wav(time.Duration(i+1)*time.Second), "X-Caller-Id", "+49170"+string(rune('0'+i)))
		require.Equal(t, 201, resp.StatusCode, string(b))
		var m map[string]any
		require.NoError(t, json.Unmarshal(b, &m))
		ids = append(ids, m["id"].(string))
		assert.Equal(t, "/v1/mailboxes/4930111/messages/"+m["id"].(string), resp.Header.Get("Location"))
	}
	resp, b = c.do("POST", "/v1/mailboxes/4930111/messages", operator, "audio/wav", wav(time.Second))
	assert.Equal(t, 507, resp.StatusCode, string(b))
	assert.Contains(t, string(b), `"mailbox_full"`)
	resp, _ = c.do("POST", "/v1/mailboxes/4930999/messages", operator, "audio/wav", wav(time.Second))
	assert.Equal(t, 404, resp.StatusCode)
	// An unsized (chunked) upload is checked against the mailbox before its body is read.
	req, err := http.NewRequest("POST", c.url+"/v1/mailboxes/4930111/messages", io.MultiReader(bytes.NewReader(wav(time.Second))))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "audio/wav")
	operator(req)
	chunked, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	chunked.Body.Close()
	assert.Equal(t, 507, chunked.StatusCode)

	resp, v := c.json("GET", "/v1/mailboxes/4930111/messages", sub, "")
	require.Equal(t, 200, resp.StatusCode)
	msgs := v["messages"].([]any)
	require.Len(t, msgs, 2)
	assert.Equal(t, ids[1], msgs[0].(map[string]any)["id"], "newest first")
	assert.Equal(t, "+491701", msgs[0].(map[string]any)["caller"])
	assert.InDelta(t, 2.0, msgs[0].(map[string]any)["durationSeconds"], 0.01)

	resp, b = c.do("GET", "/v1/mailboxes/4930111/messages/"+ids[0]+"/audio", sub, "", nil)
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, wav(time.Second), b)

	resp, v = c.json("PATCH", "/v1/mailboxes/4930111/messages/"+ids[0], sub, `{"heard":true}`)
	require.Equal(t, 200, resp.StatusCode, v)
	assert.Equal(t, true, v["heard"])
	resp, v = c.json("PATCH", "/v1/mailboxes/4930111/messages/"+ids[0], sub, `{"folder":"saved"}`)
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "saved", v["folder"])
	resp, v = c.json("PATCH", "/v1/mailboxes/4930111/messages/"+ids[0], sub, `{"folder":"attic"}`)
	assert.Equal(t, 400, resp.StatusCode)
	resp, v = c.json("GET", "/v1/mailboxes/4930111/messages?folder=saved", sub, "")
	require.Equal(t, 200, resp.StatusCode)
	assert.Len(t, v["messages"], 1)
	resp, v = c.json("GET", "/v1/mailboxes/4930111/messages?folder=attic", sub, "")
	assert.Equal(t, 400, resp.StatusCode)

	resp, _ = c.do("DELETE", "/v1/mailboxes/4930111/messages/"+ids[0], sub, "", nil)
	assert.Equal(t, 204, resp.StatusCode)
	resp, v = c.json("GET", "/v1/mailboxes/4930111/messages/"+ids[0], sub, "")
	assert.Equal(t, 404, resp.StatusCode)
	resp, _ = c.do("GET", "/v1/mailboxes/4930111/messages/"+ids[0]+"/audio", sub, "", nil)
	assert.Equal(t, 404, resp.StatusCode)
	resp, v = c.json("GET", "/v1/mailboxes/4930111/messages", sub, "")
	assert.Len(t, v["messages"], 1)
}

func TestDepositRetryWithMessageIDIsIdempotent(t *testing.T) {
	c := setup(t, vm.Options{})
	voicemailtest.Provision(t, c.svc, "4930111", "1234")
	id := vm.NewMessageID("local", time.Now())
	var first []byte
	for i := range 3 {
		resp, b := c.do("POST", "/v1/mailboxes/4930111/messages", operator, "audio/wav", wav(time.Second), "X-Message-Id", id, "X-Caller-Id", "+4917")
		require.Equal(t, 201, resp.StatusCode, string(b))
		if i == 0 {
			first = b
		}
		assert.JSONEq(t, string(first), string(b), "a retry answers the stored message")
	}
	list, err := c.svc.Messages(context.Background(), "4930111", "")
	require.NoError(t, err)
	assert.Len(t, list, 1)
	resp, b := c.do("POST", "/v1/mailboxes/4930111/messages", operator, "audio/wav", wav(time.Second), "X-Message-Id", "not-an-id")
	assert.Equal(t, 400, resp.StatusCode, string(b))
}
