// Package httpapi is the JSON HTTP API v1 over *voicemail.Service.
//
// Auth: operator routes need "Authorization: Bearer <operator token>"; subscriber routes also
// accept HTTP Basic "<number>:<PIN>" for that mailbox only (PIN checks share the service's
// lockout with SIP and IMAP). Errors are {"error":{"code":"...","message":"..."}} with a
// stable code per failure.
package httpapi

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
)

// Options configure the API.
type Options struct {
	Service *voicemail.Service
	// OperatorToken authorises provisioning and deposits; empty disables operator access.
	OperatorToken string
	Logger        *slog.Logger
	// BodyStallTimeout is the longest a request body may pause (default 15 s): an upload from a
	// phone on a slow link keeps going as long as bytes arrive, a stalled one ends with 408.
	// Bodies of requests that fail authentication are never read: the connection closes
	// after the answer.
	BodyStallTimeout time.Duration
}

// API serves /v1.
type API struct {
	svc   *voicemail.Service
	token string
	log   *slog.Logger
	stall time.Duration
}

// New builds the API.
func New(opt Options) *API {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.BodyStallTimeout <= 0 {
		opt.BodyStallTimeout = 15 * time.Second
	}
	return &API{svc: opt.Service, token: opt.OperatorToken, log: opt.Logger, stall: opt.BodyStallTimeout}
}

// Limits on request bodies.
const (
	maxJSONBody = 64 << 10
	// wavOverhead covers RIFF headers and extra chunks on top of the samples.
	wavOverhead = 64 << 10
	// bytesPerSecond is the largest accepted encoding (PCM16 at 8 kHz).
	bytesPerSecond = 16000
	// precheckBytes: deposits larger than this check the mailbox before reading the body.
	precheckBytes = 1 << 20
)

// Register adds the v1 routes to mux. Methods are dispatched inside the handlers so that a
// wrong method gets a JSON 405 like every other error.
func (a *API) Register(mux *http.ServeMux) {
	mux.HandleFunc("/v1/mailboxes/{number}", a.methods(map[string]http.HandlerFunc{
		http.MethodPut: a.operator(a.provision), http.MethodGet: a.subscriber(a.getMailbox),
		http.MethodPatch: a.subscriber(a.configure), http.MethodDelete: a.operator(a.removeMailbox),
	}))
	mux.HandleFunc("/v1/mailboxes/{number}/greetings/{kind}", a.methods(map[string]http.HandlerFunc{
		http.MethodPut: a.subscriber(a.putGreeting), http.MethodGet: a.subscriber(a.getGreeting),
		http.MethodDelete: a.subscriber(a.deleteGreeting),
	}))
	mux.HandleFunc("/v1/mailboxes/{number}/messages", a.methods(map[string]http.HandlerFunc{
		http.MethodPost: a.operator(a.deposit), http.MethodGet: a.subscriber(a.listMessages),
	}))
	mux.HandleFunc("/v1/mailboxes/{number}/messages/{id}", a.methods(map[string]http.HandlerFunc{
		http.MethodGet: a.subscriber(a.getMessage), http.MethodPatch: a.subscriber(a.updateMessage),
		http.MethodDelete: a.subscriber(a.deleteMessage),
	}))
	mux.HandleFunc("/v1/mailboxes/{number}/messages/{id}/audio", a.methods(map[string]http.HandlerFunc{
		http.MethodGet: a.subscriber(a.getAudio),
	}))
	mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "route_not_found", "no such API route: "+r.URL.Path)
	})
}

func (a *API) methods(m map[string]http.HandlerFunc) http.HandlerFunc {
	var allow []string
	for _, k := range []string{http.MethodGet, http.MethodPut, http.MethodPost, http.MethodPatch, http.MethodDelete} {
		if m[k] != nil {
			allow = append(allow, k)
		}
	}
	if m[http.MethodGet] != nil {
		m[http.MethodHead] = m[http.MethodGet]
	}
	return func(w http.ResponseWriter, r *http.Request) {
		h := m[r.Method]
		if h == nil {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed here")
			return
		}
		h(w, r)
	}
}

type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Error apiError `json:"error"`
	}{apiError{Code: code, Message: msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// serviceError maps the service's sentinel errors to status codes and stable codes.
func (a *API) serviceError(w http.ResponseWriter, r *http.Request, err error) {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("body exceeds %d bytes", mbe.Limit))
	case errors.Is(err, voicemail.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, voicemail.ErrExists):
		writeError(w, http.StatusConflict, "exists", err.Error())
	case errors.Is(err, voicemail.ErrThrottled):
		w.Header().Set("Retry-After", strconv.Itoa(int(voicemail.RetryAfter(err).Round(time.Second)/time.Second)))
		writeError(w, http.StatusTooManyRequests, "throttled", "too many wrong PINs; retry later")
	case errors.Is(err, voicemail.ErrLocked):
		writeError(w, http.StatusLocked, "locked", "the mailbox is locked by the operator")
	case errors.Is(err, voicemail.ErrBadPIN):
		w.Header().Set("WWW-Authenticate", `Basic realm="voicemail"`)
		writeError(w, http.StatusUnauthorized, "unauthorized", "wrong number or PIN")
	case errors.Is(err, voicemail.ErrMailboxFull):
		writeError(w, http.StatusInsufficientStorage, "mailbox_full", err.Error())
	case errors.Is(err, voicemail.ErrTooLong):
		writeError(w, http.StatusRequestEntityTooLarge, "too_long", err.Error())
	case errors.Is(err, voicemail.ErrBadAudio):
		writeError(w, http.StatusUnprocessableEntity, "bad_audio", err.Error())
	case errors.Is(err, voicemail.ErrInvalid):
		writeError(w, http.StatusBadRequest, "invalid", err.Error())
	case errors.Is(err, voicemail.ErrUnavailable):
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "unavailable", "storage is unavailable; retry later")
		a.log.Warn("storage unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
	case r.Context().Err() != nil:
		writeError(w, http.StatusServiceUnavailable, "canceled", "request canceled")
	default:
		a.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, "internal", "internal error")
	}
}

// --- auth ---

type authKind int

const (
	authOperator authKind = iota + 1
	authSubscriber
)

func (a *API) isOperator(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	return ok && a.token != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(a.token)) == 1
}

func (a *API) operator(h func(http.ResponseWriter, *http.Request, authKind)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !a.isOperator(r) {
			refuseBody(w)
			w.Header().Set("WWW-Authenticate", `Bearer realm="voicemail"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "operator token required")
			return
		}
		h(w, r, authOperator)
	}
}

func (a *API) subscriber(h func(http.ResponseWriter, *http.Request, authKind)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.isOperator(r) {
			h(w, r, authOperator)
			return
		}
		number, pin, ok := r.BasicAuth()
		if !ok {
			refuseBody(w)
			w.Header().Set("WWW-Authenticate", `Basic realm="voicemail"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "operator token or Basic number:PIN required")
			return
		}
		if number != r.PathValue("number") {
			refuseBody(w)
			writeError(w, http.StatusForbidden, "forbidden", "credentials are for another mailbox")
			return
		}
		if err := a.svc.Login(voicemail.WithSource(r.Context(), "ip:"+clientIP(r)), number, pin); err != nil {
			if errors.Is(err, voicemail.ErrNotFound) || errors.Is(err, voicemail.ErrInvalid) {
				err = voicemail.ErrBadPIN // do not reveal which numbers exist
			}
			refuseBody(w)
			a.serviceError(w, r, err)
			return
		}
		h(w, r, authSubscriber)
	}
}

// clientIP is the address a request came from: the connection's peer. Forwarding headers are
// not believed (the public Service keeps client addresses: externalTrafficPolicy Local).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// --- bodies ---

// refuseBody makes the server close the connection after the answer instead of reading the
// rest of the body to reuse it (net/http reads up to 256 KiB of an unread body after the
// handler, for as long as the request timeout allows): a stranger's body, however slowly it
// trickles, holds nothing.
func refuseBody(w http.ResponseWriter) {
	w.Header().Set("Connection", "close")
	_ = http.NewResponseController(w).SetReadDeadline(time.Now())
}

// stallReader extends the connection's read deadline by the stall timeout before every read:
// a body that keeps arriving is read to its end, one that stops is cut after the timeout.
type stallReader struct {
	r     io.Reader
	rc    *http.ResponseController
	stall time.Duration
}

func (s stallReader) Read(p []byte) (int, error) {
	_ = s.rc.SetReadDeadline(time.Now().Add(s.stall))
	return s.r.Read(p)
}

// body is r's body bounded to limit bytes and to the stall timeout.
func (a *API) body(w http.ResponseWriter, r *http.Request, limit int64) io.Reader {
	return stallReader{r: http.MaxBytesReader(w, r.Body, limit), rc: http.NewResponseController(w), stall: a.stall}
}

// bodyError answers a failed body read: too large, stalled (408) or broken.
func bodyError(w http.ResponseWriter, err error, limit int64) {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("body exceeds %d bytes", limit))
	case errors.Is(err, os.ErrDeadlineExceeded):
		refuseBody(w)
		writeError(w, http.StatusRequestTimeout, "body_stalled", "the request body stopped arriving")
	default:
		refuseBody(w)
		writeError(w, http.StatusBadRequest, "bad_body", "reading body: "+err.Error())
	}
}

func (a *API) decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "send application/json")
			return false
		}
	}
	dec := json.NewDecoder(a.body(w, r, maxJSONBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe), errors.Is(err, os.ErrDeadlineExceeded):
			bodyError(w, err, maxJSONBody)
		default:
			writeError(w, http.StatusBadRequest, "bad_json", "malformed JSON body: "+err.Error())
		}
		return false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "bad_json", "trailing data after the JSON body")
		return false
	}
	return true
}

var wavTypes = map[string]bool{"audio/wav": true, "audio/x-wav": true, "audio/wave": true, "audio/vnd.wave": true}

// readWAV reads an audio/wav body of at most limit bytes; it answers the error itself. Memory
// follows the bytes that arrived, not the declared length, so uploads that declare megabytes
// and stall hold little.
func (a *API) readWAV(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || !wavTypes[mt] {
		writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "send audio/wav (8 kHz mono PCM16, A-law or µ-law)")
		return nil, false
	}
	if r.ContentLength > limit {
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("body of %d bytes exceeds %d", r.ContentLength, limit))
		return nil, false
	}
	buf := bytes.NewBuffer(make([]byte, 0, min(max(r.ContentLength, 0), 64<<10)))
	if _, err = buf.ReadFrom(a.body(w, r, limit)); err == nil && r.ContentLength > 0 && int64(buf.Len()) < r.ContentLength {
		err = fmt.Errorf("body shorter than its Content-Length: %w", io.ErrUnexpectedEOF)
	}
	if err != nil {
		bodyError(w, err, limit)
		return nil, false
	}
	return buf.Bytes(), true
}

// --- mailboxes ---

func (a *API) provision(w http.ResponseWriter, r *http.Request, _ authKind) {
	var req voicemail.ProvisionRequest
	if !a.decodeJSON(w, r, &req) {
		return
	}
	mb, created, err := a.svc.Provision(r.Context(), r.PathValue("number"), req)
	if err != nil {
		a.serviceError(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		w.Header().Set("Location", "/v1/mailboxes/"+mb.Number)
	}
	writeJSON(w, status, mb)
}

func (a *API) getMailbox(w http.ResponseWriter, r *http.Request, _ authKind) {
	mb, err := a.svc.Mailbox(r.Context(), r.PathValue("number"))
	if err != nil {
		a.serviceError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, mb)
}

func (a *API) configure(w http.ResponseWriter, r *http.Request, who authKind) {
	var p voicemail.MailboxPatch
	if !a.decodeJSON(w, r, &p) {
		return
	}
	if who == authSubscriber && (p.MaxMessages != nil || p.MaxMessageSeconds != nil) {
		writeError(w, http.StatusForbidden, "forbidden", "limits are set by the operator")
		return
	}
	mb, err := a.svc.Configure(r.Context(), r.PathValue("number"), p)
	if err != nil {
		a.serviceError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, mb)
}

func (a *API) removeMailbox(w http.ResponseWriter, r *http.Request, _ authKind) {
	if err := a.svc.RemoveMailbox(r.Context(), r.PathValue("number")); err != nil {
		a.serviceError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// --- greetings ---

func (a *API) putGreeting(w http.ResponseWriter, r *http.Request, _ authKind) {
	kind := voicemail.GreetingKind(r.PathValue("kind"))
	if !kind.Valid() {
		writeError(w, http.StatusNotFound, "not_found", "greeting kind must be unavailable, busy, name or temporary")
		return
	}
	wav, ok := a.readWAV(w, r, wavOverhead+voicemail.MaxGreetingSeconds*bytesPerSecond)
	if !ok {
		return
	}
	if err := a.svc.PutGreeting(r.Context(), r.PathValue("number"), kind, wav); err != nil {
		a.serviceError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) getGreeting(w http.ResponseWriter, r *http.Request, _ authKind) {
	wav, err := a.svc.Greeting(r.Context(), r.PathValue("number"), voicemail.GreetingKind(r.PathValue("kind")))
	if err != nil {
		a.serviceError(w, r, err)
		return
	}
	writeWAV(w, r, wav)
}

func (a *API) deleteGreeting(w http.ResponseWriter, r *http.Request, _ authKind) {
	if err := a.svc.DeleteGreeting(r.Context(), r.PathValue("number"), voicemail.GreetingKind(r.PathValue("kind"))); err != nil {
		a.serviceError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func writeWAV(w http.ResponseWriter, r *http.Request, wav []byte) {
	w.Header().Set("Content-Type", "audio/wav")
	w.Header().Set("Content-Length", fmt.Sprint(len(wav)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(wav)
	}
}

// --- messages ---

func (a *API) deposit(w http.ResponseWriter, r *http.Request, _ authKind) {
	number := r.PathValue("number")
	// Large or unsized uploads check the mailbox before the body is read, so unknown or full
	// mailboxes are refused without receiving the audio and the limit follows the mailbox's
	// maximum length. Small ones skip that round trip: Deposit checks the same and stores
	// nothing on failure.
	limit := wavOverhead + int64(voicemail.MaxMessageSecondsLimit+1)*bytesPerSecond
	if r.ContentLength < 0 || r.ContentLength > precheckBytes {
		mb, err := a.svc.CanDeposit(r.Context(), number)
		if err != nil {
			a.serviceError(w, r, err)
			return
		}
		limit = wavOverhead + int64(mb.MaxMessageSeconds+1)*bytesPerSecond
	}
	wav, ok := a.readWAV(w, r, limit)
	if !ok {
		return
	}
	d := voicemail.Deposit{Caller: r.Header.Get("X-Caller-Id"), Audio: wav, ID: r.Header.Get("X-Message-Id")}
	if s := r.Header.Get("X-Received"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid", "X-Received must be RFC 3339")
			return
		}
		d.Received = t
	}
	m, err := a.svc.Deposit(r.Context(), number, d)
	if err != nil {
		a.serviceError(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/mailboxes/"+number+"/messages/"+m.ID)
	writeJSON(w, http.StatusCreated, m)
}

func (a *API) listMessages(w http.ResponseWriter, r *http.Request, _ authKind) {
	folder := voicemail.Folder(r.URL.Query().Get("folder"))
	if folder != "" && folder != voicemail.FolderNew && folder != voicemail.FolderSaved {
		writeError(w, http.StatusBadRequest, "invalid", "folder must be new or saved")
		return
	}
	msgs, err := a.svc.Messages(r.Context(), r.PathValue("number"), folder)
	if err != nil {
		a.serviceError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Messages []voicemail.Message `json:"messages"`
	}{msgs})
}

func (a *API) getMessage(w http.ResponseWriter, r *http.Request, _ authKind) {
	m, err := a.svc.Message(r.Context(), r.PathValue("number"), r.PathValue("id"))
	if err != nil {
		a.serviceError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

func (a *API) getAudio(w http.ResponseWriter, r *http.Request, _ authKind) {
	wav, err := a.svc.Audio(r.Context(), r.PathValue("number"), r.PathValue("id"))
	if err != nil {
		a.serviceError(w, r, err)
		return
	}
	writeWAV(w, r, wav)
}

func (a *API) updateMessage(w http.ResponseWriter, r *http.Request, _ authKind) {
	var u voicemail.MessageUpdate
	if !a.decodeJSON(w, r, &u) {
		return
	}
	if u.Heard == nil && u.Folder == nil && len(u.Flags) == 0 {
		writeError(w, http.StatusBadRequest, "invalid", `set "heard", "folder" and/or "flags"`)
		return
	}
	m, err := a.svc.UpdateMessage(r.Context(), r.PathValue("number"), r.PathValue("id"), u)
	if err != nil {
		a.serviceError(w, r, err)
		return
	}
	if m.Folder == voicemail.FolderDeleted {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

func (a *API) deleteMessage(w http.ResponseWriter, r *http.Request, _ authKind) {
	if err := a.svc.DeleteMessage(r.Context(), r.PathValue("number"), r.PathValue("id")); err != nil {
		a.serviceError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
