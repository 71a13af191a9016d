package imap

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/httpapi"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
)

const operatorToken = "test-operator-token"

// httpClient talks to the real HTTP API over the same service, to show that what IMAP does is
// what HTTP sees and the other way round.
type httpClient struct {
	t   *testing.T
	url string
}

func startHTTP(t *testing.T, svc *voicemail.Service) *httpClient {
	t.Helper()
	mux := http.NewServeMux()
	httpapi.New(httpapi.Options{Service: svc, OperatorToken: operatorToken}).Register(mux)
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return &httpClient{t: t, url: ts.URL}
}

// do sends a request as the subscriber (Basic number:PIN) or, with operator, the operator.
func (h *httpClient) do(method, path string, body []byte, operator bool, hdr map[string]string) (int, []byte) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.url+path, bytes.NewReader(body))
	require.NoError(h.t, err)
	if operator {
		req.Header.Set("Authorization", "Bearer "+operatorToken)
	} else {
		req.SetBasicAuth(testNumber, testPIN)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(h.t, err)
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, err = buf.ReadFrom(resp.Body)
	require.NoError(h.t, err)
	return resp.StatusCode, buf.Bytes()
}

// message is GET /v1/mailboxes/{n}/messages/{id}: the message, or nil on 404.
func (h *httpClient) message(id string) *voicemail.Message {
	h.t.Helper()
	code, body := h.do(http.MethodGet, "/v1/mailboxes/"+testNumber+"/messages/"+id, nil, false, nil)
	if code == http.StatusNotFound {
		return nil
	}
	require.Equal(h.t, http.StatusOK, code, string(body))
	var m voicemail.Message
	require.NoError(h.t, json.Unmarshal(body, &m))
	return &m
}

// deposit is POST /v1/mailboxes/{n}/messages with the operator token.
func (h *httpClient) deposit(caller string, wav []byte) voicemail.Message {
	h.t.Helper()
	code, body := h.do(http.MethodPost, "/v1/mailboxes/"+testNumber+"/messages", wav, true,
		map[string]string{"Content-Type": "audio/wav", "X-Caller-Id": caller})
	require.Equal(h.t, http.StatusCreated, code, string(body))
	var m voicemail.Message
	require.NoError(h.t, json.Unmarshal(body, &m))
	return m
}
