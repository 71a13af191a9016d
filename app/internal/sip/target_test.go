package sip

import (
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func mustParseRequest(t *testing.T, ruri string, extra ...string) *sip.Request {
	t.Helper()
	raw := "INVITE " + ruri + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1\r\n" +
		"From: <sip:5550100@127.0.0.1>;tag=a\r\n" +
		"To: <" + ruri + ">\r\n" +
		"Call-ID: c1\r\nCSeq: 1 INVITE\r\nContact: <sip:5550100@127.0.0.1:5061>\r\nMax-Forwards: 70\r\n" +
		strings.Join(extra, "") + "Content-Length: 0\r\n\r\n"
	msg, err := sip.ParseMessage([]byte(raw))
	require.NoError(t, err)
	return msg.(*sip.Request)
}

func TestRouteOf(t *testing.T) {
	for _, tc := range []struct {
		name      string
		ruri      string
		headers   []string
		mailbox   string
		cause     Cause
		forwarded bool
	}{
		{"plain request-uri user", "sip:1001@vm.example.com", nil, "1001", CauseUnavailable, false},
		{"rfc4458 target and busy cause", "sip:voicemail@vm.example.com;target=sip:1002%40example.com;cause=486", nil, "1002", CauseBusy, true},
		{"rfc4458 no-answer cause", "sip:voicemail@vm.example.com;target=1003;cause=408", nil, "1003", CauseUnavailable, true},
		{"rfc4458 tel target", "sip:vm@vm.example.com;target=tel:%2B15550104;cause=486", nil, "+15550104", CauseBusy, true},
		{"cause on the mailbox uri itself", "sip:1004@vm.example.com;cause=486", nil, "1004", CauseBusy, true},
		{"history-info with target entry", "sip:voicemail@vm.example.com", []string{
			"History-Info: <sip:1005@example.com>;index=1, <sip:voicemail@vm.example.com;target=1005;cause=486>;index=1.1\r\n"},
			"1005", CauseBusy, true},
		{"history-info original called party, reason embedded", "sip:voicemail@vm.example.com", []string{
			"History-Info: <sip:1006@example.com?Reason=SIP%3Bcause%3D486>;index=1\r\n",
			"History-Info: <sip:voicemail@vm.example.com>;index=1.1\r\n"},
			"1006", CauseBusy, true},
		{"diversion busy", "sip:voicemail@vm.example.com", []string{
			"Diversion: <sip:1007@example.com>;reason=user-busy;counter=1, <sip:1999@example.com>;reason=unconditional\r\n"},
			"1007", CauseBusy, true},
		{"diversion no-answer", "sip:voicemail@vm.example.com", []string{
			"Diversion: <sip:1008@example.com>;reason=no-answer\r\n"},
			"1008", CauseUnavailable, true},
		{"broken history-info falls back to diversion", "sip:voicemail@vm.example.com", []string{
			"History-Info: <>;index=1\r\n", "Diversion: <sip:1009@example.com>;reason=user-busy\r\n"},
			"1009", CauseBusy, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := routeOf(mustParseRequest(t, tc.ruri, tc.headers...), true)
			assert.Equal(t, tc.mailbox, r.Mailbox)
			assert.Equal(t, tc.cause, r.Cause)
			assert.Equal(t, tc.forwarded, r.Forwarded)
			assert.Equal(t, "5550100", r.Caller)
		})
	}
	r := routeOf(mustParseRequest(t, "sip:1001@vm.example.com", "P-Asserted-Identity: \"Bob\" <sip:+15550199@carrier.example>, <tel:+15550199>\r\n"), true)
	assert.Equal(t, "+15550199", r.Caller, "P-Asserted-Identity wins over From")
}
