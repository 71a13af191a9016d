package manager

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/voicemail-platform/voicemail/contract"
)

// Routes served by Handler. TimerPath is where the Functions host delivers the timer
// trigger of the function named "probe" (custom handlers get POST /<function name>); the
// /api/ routes are HTTP-trigger functions forwarded as-is (enableForwardingHttpRequest).
const (
	TimerPath     = "/probe"
	StampsPath    = "/api/stamps"
	DrainAction   = "drain"
	UndrainAction = "undrain"
)

// Handler serves the Functions custom-handler contract and the operator API.
type Handler struct {
	M *Manager
	// OperatorToken guards every /api route (Authorization: Bearer <token>).
	OperatorToken string
	// TokenUnresolved makes the /api routes answer 503: the token setting still holds its
	// Key Vault reference.
	TokenUnresolved bool
	Log             *slog.Logger
}

// invocationResponse is the custom handler's answer to a non-HTTP trigger.
type invocationResponse struct {
	Outputs     map[string]any `json:"Outputs"`
	Logs        []string       `json:"Logs"`
	ReturnValue any            `json:"ReturnValue"`
}

type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, apiError{Code: code, Message: msg})
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+TimerPath, h.timer)
	mux.HandleFunc("GET "+StampsPath, h.auth(h.list))
	mux.HandleFunc("POST "+StampsPath+"/{id}/{action}", h.auth(h.action))
	mux.ServeHTTP(w, r)
}

func (h *Handler) log() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.Default()
}

func (h *Handler) timer(w http.ResponseWriter, r *http.Request) {
	// The invocation body (timer schedule status) carries nothing the round needs.
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
	res, err := h.M.Tick(r.Context())
	if err != nil {
		h.log().ErrorContext(r.Context(), "tick failed", "err", err)
		writeJSON(w, http.StatusInternalServerError, invocationResponse{
			Outputs: map[string]any{}, Logs: []string{"tick failed: " + err.Error()},
		})
		return
	}
	logs := make([]string, 0, len(res))
	for _, t := range res {
		if t.Action != "" {
			logs = append(logs, t.Stamp+": "+t.Action)
		}
	}
	writeJSON(w, http.StatusOK, invocationResponse{Outputs: map[string]any{}, Logs: logs, ReturnValue: res})
}

func (h *Handler) auth(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if h.TokenUnresolved {
			writeErr(w, http.StatusServiceUnavailable, "operator_token_unresolved", contract.EnvManagerOperatorToken.Name+" is an unresolved Key Vault reference: check the app's Key Vault Secrets User role and the secret, then restart the app")
			return
		}
		if h.OperatorToken == "" {
			writeErr(w, http.StatusServiceUnavailable, "operator_api_off", "no operator token is configured ("+contract.EnvManagerOperatorToken.Name+")")
			return
		}
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(tok), []byte(h.OperatorToken)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="voicemail-manager"`)
			writeErr(w, http.StatusUnauthorized, "unauthorized", "operator token required")
			return
		}
		next(w, r)
	}
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	st, err := h.M.Status(r.Context())
	if err != nil {
		writeErr(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (h *Handler) action(w http.ResponseWriter, r *http.Request) {
	id, action := r.PathValue("id"), r.PathValue("action")
	var body struct {
		Reason string `json:"reason"`
	}
	if r.ContentLength != 0 {
		dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil && !errors.Is(err, io.EOF) {
			writeErr(w, http.StatusBadRequest, "bad_request", "body must be {\"reason\":\"...\"}: "+err.Error())
			return
		}
	}
	var (
		st  StampStatus
		err error
	)
	switch action {
	case DrainAction:
		if strings.TrimSpace(body.Reason) == "" {
			writeErr(w, http.StatusBadRequest, "bad_request", "a drain needs a reason")
			return
		}
		st, err = h.M.Drain(r.Context(), id, body.Reason)
	case UndrainAction:
		st, err = h.M.Undrain(r.Context(), id)
	default:
		writeErr(w, http.StatusNotFound, "not_found", "action must be drain or undrain")
		return
	}
	switch {
	case errors.Is(err, ErrUnknownStamp):
		writeErr(w, http.StatusNotFound, "unknown_stamp", err.Error())
	case errors.Is(err, ErrConfigDrained):
		writeErr(w, http.StatusConflict, "config_drained", err.Error())
	case err != nil:
		writeErr(w, http.StatusInternalServerError, "internal", err.Error())
	default:
		h.log().InfoContext(r.Context(), "operator "+action, "stamp", id, "reason", body.Reason)
		writeJSON(w, http.StatusOK, st)
	}
}
