package sip

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/voicemail-platform/voicemail/app/internal/audio"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
)

// call is one answered dialog with its media.
type call struct {
	s   *Server
	ctx context.Context // ends on BYE, RTP timeout or server shutdown
	dlg *sipgo.DialogServerSession
	m   *media
	log *slog.Logger
}

// onInvite answers a new call in steps: admit it, read its offer, decide what the call is,
// answer with our SDP, then run the deposit or retrieval until either side hangs up.
func (s *Server) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if _, ok := req.To().Params.Get("tag"); ok {
		s.onReInvite(req, tx)
		return
	}
	r, release, ok := s.admitInvite(req, tx)
	if !ok {
		return
	}
	defer release()
	log := s.log.With("call", req.CallID().Value())
	o, late, ok := s.readOffer(req, tx, log)
	if !ok {
		return
	}

	// Decide what the call is before answering so an unknown mailbox gets a plain 404.
	ctx, cancel := s.deadline(5 * time.Second)
	defer cancel()
	p, ok := s.planCall(ctx, req, tx, r, log)
	if !ok {
		return
	}
	if p.mbox.Notify.MWITarget != "" {
		s.watch(p.mbox.Number)
	}

	conn, err := s.ports.listen()
	if err != nil {
		log.Error("rtp port", "error", err)
		s.respond(tx, req, 503, "Service Unavailable")
		return
	}
	var m *media
	defer func() {
		if m != nil {
			m.close()
		} else {
			_ = conn.Close()
		}
	}()
	if !late {
		m = newMedia(conn, o, s.cfg.VoiceLevel, log)
		go m.receive()
	}

	dlg, err := s.dialogs.ReadInvite(req, tx)
	if err != nil {
		log.Info("invite rejected", "error", err)
		s.respond(tx, req, 400, "Bad Request")
		return
	}
	defer dlg.Close()

	body := s.localSDP(conn, o, late)
	if !s.track(dlg.ID, liveCall{answer: body, m: m, ack: make(chan []byte, 1)}) {
		s.respond(tx, req, 503, "Service Unavailable")
		return
	}
	defer s.untrack(dlg.ID)

	if err := dlg.WriteResponse(s.answer(dlg, req, body)); err != nil {
		log.Info("call not established", "error", err)
		return
	}
	if late {
		if o, m, ok = s.startLateMedia(dlg, conn, log); !ok {
			return
		}
	}
	s.runCall(req, dlg, r, p, m, o, log)
}

// admitInvite decides whether a new call may start: the stamp is not draining, the peer is
// allowed and within its rate, the server and the caller have a call slot left, and the
// request names a mailbox. It answers 100 Trying on the way, and the refusal when it refuses.
// release frees the caller's call slot.
func (s *Server) admitInvite(req *sip.Request, tx sip.ServerTransaction) (r routing, release func(), ok bool) {
	if s.refuseDraining(req, tx) {
		return r, nil, false
	}
	if !s.admitted(req) {
		s.refuse(tx, req)
		return r, nil, false
	}
	if s.overRate(tx, req) {
		return r, nil, false
	}
	// Stop INVITE retransmissions while the store is consulted (RFC 3261 §8.2.6.1).
	s.respond(tx, req, 100, "Trying")
	if s.active.Load() >= int64(s.cfg.MaxCalls) {
		s.respond(tx, req, 503, "Service Unavailable", sip.NewHeader("Retry-After", "5"))
		return r, nil, false
	}
	r = routeOf(req, s.trusted(req))
	if r.Mailbox == "" {
		s.respond(tx, req, 404, "Not Found")
		return r, nil, false
	}
	release, ok = s.callSlot(req, r)
	if !ok {
		s.limited.Add(1)
		s.respond(tx, req, 503, "Service Unavailable", sip.NewHeader("Retry-After", "5"))
		return r, nil, false
	}
	return r, release, true
}

// readOffer parses the INVITE's SDP offer, answering 488 to one we cannot accept. Late offer
// (RFC 3261 §13.2.1): no SDP in the INVITE, so we offer in the 200 and the caller answers in
// the ACK.
func (s *Server) readOffer(req *sip.Request, tx sip.ServerTransaction, log *slog.Logger) (o offer, late, ok bool) {
	if len(bytes.TrimSpace(req.Body())) == 0 {
		return o, true, true
	}
	o, err := parseOffer(req.Body())
	if err != nil {
		log.Info("offer rejected", "error", err)
		s.respond(tx, req, 488, "Not Acceptable Here")
		return o, false, false
	}
	return o, false, true
}

// callPlan is what a call is for, decided before it is answered.
type callPlan struct {
	retrieval bool              // the subscriber listens to its mailbox; otherwise a deposit
	mbox      voicemail.Mailbox // the mailbox (its Number is set even if the store is down)
	full      bool              // a deposit to a full mailbox: the caller is told so
	greet     greeting          // what a deposit's caller hears first
}

// planCall tells a retrieval (the access number, or a subscriber calling its own number) from
// a deposit, and reads the mailbox. It answers 404 for an unknown mailbox. A deposit whose
// check fails on the store is taken anyway: the deposit path queues.
func (s *Server) planCall(ctx context.Context, req *sip.Request, tx sip.ServerTransaction, r routing,
	log *slog.Logger) (p callPlan, ok bool) {
	switch {
	case !r.Forwarded && slices.Contains(s.cfg.AccessNumbers, r.Mailbox):
		// The access number: the caller's own mailbox if it has one, else we ask.
		p.retrieval = true
		if mb, err := s.svc.Mailbox(ctx, r.Caller); err == nil {
			p.mbox = mb
		}
	case !r.Forwarded && r.Caller == r.Mailbox:
		p.retrieval = true
		mb, err := s.svc.Mailbox(ctx, r.Mailbox)
		if isNotFound(err) && s.trusted(req) {
			s.respond(tx, req, 404, "Not Found")
			return p, false
		}
		p.mbox = mb
		p.mbox.Number = r.Mailbox
	default:
		mb, err := s.svc.CanDeposit(ctx, r.Mailbox)
		switch {
		case isNotFound(err) && s.trusted(req):
			// A trusted peer (the dispatcher, an SBC) gets the truth and can route elsewhere.
			log.Info("deposit to unknown mailbox", "mailbox", r.Mailbox)
			s.respond(tx, req, 404, "Not Found")
			return p, false
		case isNotFound(err):
			// Anyone else (open mode) is answered as a known number's caller is: greeting,
			// beep, recording. Answers then do not tell which numbers have mailboxes (svwar's
			// INVITE scan); the recording finds no mailbox and is dropped.
			log.Info("deposit to unknown mailbox from an untrusted source; answered like any other", "mailbox", r.Mailbox)
		case errors.Is(err, voicemail.ErrMailboxFull):
			p.full = true
		case err != nil:
			// The store may be down; the deposit path queues, so take the message anyway.
			log.Warn("deposit check failed, recording anyway", "mailbox", r.Mailbox, "error", err)
		}
		p.mbox = mb
		p.mbox.Number = r.Mailbox
	}
	if !p.retrieval && !p.full {
		p.greet = s.chooseGreeting(ctx, log, p.mbox.Number, r.Cause, p.mbox.ActiveGreeting)
	}
	return p, true
}

// localSDP is our side of the session: an answer to the caller's offer, or our own offer when
// the INVITE had none. It advertises MediaIP if set, else the address that routes to the caller.
func (s *Server) localSDP(conn *net.UDPConn, o offer, late bool) []byte {
	ip := net.ParseIP(s.host)
	if s.cfg.MediaIP != "" {
		ip = net.ParseIP(s.cfg.MediaIP)
	} else if !late {
		ip = localIPFor(o.Remote.IP)
	}
	port := conn.LocalAddr().(*net.UDPAddr).Port
	if late {
		return offerSDP(ip, port, rand.Uint64()>>1)
	}
	return answerSDP(o, ip, port, rand.Uint64()>>1)
}

// answer is the 200 OK that establishes the dialog.
func (s *Server) answer(dlg *sipgo.DialogServerSession, req *sip.Request, body []byte) *sip.Response {
	res := sip.NewSDPResponseFromRequest(dlg.InviteRequest, body)
	ct := s.contact(req.Transport())
	res.AppendHeader(&ct)
	res.AppendHeader(sip.NewHeader("Allow", allow))
	return res
}

// startLateMedia takes the caller's answer from the ACK of a late-offer call and starts
// receiving media; without a usable answer it hangs up.
func (s *Server) startLateMedia(dlg *sipgo.DialogServerSession, conn *net.UDPConn, log *slog.Logger) (offer, *media, bool) {
	o, err := s.lateAnswer(dlg.ID)
	if err != nil {
		log.Info("late offer: no usable answer in ACK", "error", err)
		byeCtx, cancel := s.deadline(5 * time.Second)
		_ = dlg.Bye(byeCtx)
		cancel()
		return o, nil, false
	}
	m := newMedia(conn, o, s.cfg.VoiceLevel, log)
	go m.receive()
	s.mu.Lock()
	lc := s.live[dlg.ID]
	lc.m = m
	s.live[dlg.ID] = lc
	s.mu.Unlock()
	return o, m, true
}

// runCall runs an answered call until the caller hangs up, media stops, MaxCallDuration
// passes or the server shuts down, then hangs up.
func (s *Server) runCall(req *sip.Request, dlg *sipgo.DialogServerSession, r routing, p callPlan, m *media,
	o offer, log *slog.Logger) {
	timed, stopTimer := context.WithTimeout(dlg.Context(), s.cfg.MaxCallDuration)
	defer stopTimer()
	callCtx, stop := context.WithCancelCause(timed)
	defer stop(nil)
	go func() { // server shutdown ends the call too
		select {
		case <-s.base.Done():
			stop(nil)
		case <-callCtx.Done():
		}
	}()
	c := &call{s: s, ctx: voicemail.WithSource(callCtx, s.loginSource(req, r)), dlg: dlg, m: m, log: log}
	go c.watchMedia(stop)
	if p.retrieval {
		log.Info("retrieval call", "mailbox", p.mbox.Number, "caller", r.Caller, "codec", o.Codec.Name)
		c.retrieve(p.mbox.Number)
	} else {
		log.Info("deposit call", "mailbox", p.mbox.Number, "caller", r.Caller, "cause", r.Cause.String(), "codec", o.Codec.Name)
		c.deposit(p.mbox, p.full, r, p.greet)
	}
	c.hangup()
}

// ended reports that the caller hung up, media died or the server is stopping.
func (c *call) ended() bool { return c.ctx.Err() != nil }

// say plays prompts in order; any key interrupts when interrupt is set and is returned.
func (c *call) say(interrupt bool, names ...string) (rune, bool) {
	for _, n := range names {
		b, ok := c.s.prompts.Samples(n, c.m.codec.Encoding)
		if !ok {
			c.log.Error("missing prompt", "prompt", n)
			continue
		}
		c.log.Debug("play", "prompt", n)
		if k, ok := c.playSamples(b, interrupt); ok || c.ended() {
			return k, ok
		}
	}
	return 0, false
}

func (c *call) playSamples(b []byte, interrupt bool) (rune, bool) {
	k, ok, _ := c.m.play(c.ctx, b, interrupt)
	return k, ok
}

// playWAV plays stored audio (greeting or message) converted to the call's codec.
func (c *call) playWAV(wav []byte, interrupt bool) (rune, bool, error) {
	w, err := audio.Parse(wav)
	if err != nil {
		return 0, false, err
	}
	k, ok := c.playSamples(audio.Convert(w, c.m.codec.Encoding), interrupt)
	return k, ok, nil
}

func (c *call) beep() {
	c.log.Debug("play", "prompt", "beep")
	c.playSamples(audio.FromPCM16(c.m.codec.Encoding, audio.Tone(1000, 300, 12000)), false)
	c.m.drainKeys()
}

// stopReason says why a recording ended.
type stopReason string

const (
	stopHangup  stopReason = "hangup"
	stopKey     stopReason = "key"
	stopSilence stopReason = "silence"
	stopMax     stopReason = "max-length"
	stopNoMedia stopReason = "rtp-timeout"
)

// record captures the caller's audio after the beep until hang-up, '#', silence, the length
// limit or loss of media. When silence ended it, the silence is trimmed.
func (c *call) record(maxLen time.Duration) ([]byte, stopReason) {
	c.m.startRecording()
	limit := int(maxLen / time.Second * audio.SampleRate)
	// Limits are checked ten times a second; the recording is cut to the exact limit after.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	reason := stopHangup
	lastKeepalive := time.Now()
loop:
	for {
		select {
		case <-c.ctx.Done():
			if errors.Is(context.Cause(c.ctx), errNoMedia) {
				reason = stopNoMedia // watchMedia saw it first
			}
			break loop
		case k := <-c.m.digits:
			if k == '#' {
				reason = stopKey
				break loop
			}
		case now := <-tick.C:
			if now.Sub(lastKeepalive) >= time.Second {
				c.m.keepalive()
				lastKeepalive = now
			}
			n, quiet, idle := c.m.status()
			switch {
			case n >= limit:
				reason = stopMax
				break loop
			case idle >= c.s.cfg.RTPTimeout:
				reason = stopNoMedia
				break loop
			case quiet >= c.s.cfg.SilenceTimeout:
				reason = stopSilence
				break loop
			}
		}
	}
	data, voiceEnd := c.m.stopRecording()
	if len(data) > limit {
		data = data[:limit]
	}
	if reason == stopSilence {
		// Drop the silence that ended the message, keeping a short natural tail.
		data = data[:min(len(data), voiceEnd+audio.SampleRate/5)]
	}
	total, before := c.m.counts()
	c.log.Info("recorded", "bytes", len(data), "reason", string(reason), "rtp_packets", total, "rtp_before_beep", before)
	return data, reason
}

// hangup sends BYE unless the caller already did.
func (c *call) hangup() {
	if c.dlg.LoadState() == sip.DialogStateEnded {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.ctx), 5*time.Second)
	defer cancel()
	if err := c.dlg.Bye(ctx); err != nil {
		c.log.Debug("bye", "error", err)
	}
}

// errNoMedia is the cause of a call's end when its RTP stopped.
var errNoMedia = errors.New("rtp timeout")

// watchMedia ends the call when RTP stops for RTPTimeout (a leg lost without BYE).
func (c *call) watchMedia(cancel context.CancelCauseFunc) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
			if _, _, idle := c.m.status(); idle >= c.s.cfg.RTPTimeout {
				c.log.Info("rtp timeout, ending call")
				cancel(errNoMedia)
				return
			}
		}
	}
}

// liveCall is what in-dialog requests need of a call in progress.
type liveCall struct {
	answer []byte      // our SDP, repeated to re-INVITEs
	m      *media      // takes keys sent as SIP INFO (nil until a late offer is answered)
	ack    chan []byte // the ACK's body, which carries the answer to a late offer
}

// lateAnswer waits briefly for the ACK's SDP (the ACK has normally arrived already: the 200
// is retransmitted until it does).
func (s *Server) lateAnswer(id string) (offer, error) {
	s.mu.Lock()
	lc := s.live[id]
	s.mu.Unlock()
	select {
	case body := <-lc.ack:
		return parseOffer(body)
	case <-time.After(2 * time.Second):
		return offer{}, errors.New("no ACK with SDP")
	}
}

// track registers an answered call (so shutdown waits for it and re-INVITEs find its SDP);
// false once the server is stopping.
func (s *Server) track(id string, lc liveCall) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.live[id] = lc
	s.active.Add(1)
	s.calls.Add(1)
	return true
}

func (s *Server) untrack(id string) {
	s.mu.Lock()
	delete(s.live, id)
	s.mu.Unlock()
	s.active.Add(-1)
	s.calls.Done()
}

// liveCall is the call in progress that an in-dialog request belongs to.
func (s *Server) liveCall(req *sip.Request) (liveCall, bool) {
	id, err := sip.DialogIDFromRequestUAS(req)
	if err != nil {
		return liveCall{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	lc, ok := s.live[id]
	return lc, ok
}

// onReInvite answers a session refresh or hold with the SDP we already gave: media stays as
// it is. Unknown dialogs get 481.
func (s *Server) onReInvite(req *sip.Request, tx sip.ServerTransaction) {
	lc, ok := s.liveCall(req)
	if !ok {
		s.respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	res := sip.NewSDPResponseFromRequest(req, lc.answer)
	ct := s.contact(req.Transport())
	res.AppendHeader(&ct)
	if err := tx.Respond(res); err != nil {
		s.log.Debug("re-invite response", "error", err)
	}
}

// onInfo takes keys sent as SIP INFO (application/dtmf-relay "Signal=5", or application/dtmf
// "5") by gateways that do not send RFC 4733 events.
func (s *Server) onInfo(req *sip.Request, tx sip.ServerTransaction) {
	lc, ok := s.liveCall(req)
	if !ok {
		s.respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	if k, ok := infoKey(req); ok && lc.m != nil {
		lc.m.pushKey(k)
	}
	s.respond(tx, req, 200, "OK")
}

func infoKey(req *sip.Request) (rune, bool) {
	ct := req.ContentType()
	if ct == nil {
		return 0, false
	}
	body := strings.TrimSpace(string(req.Body()))
	switch strings.ToLower(strings.TrimSpace(ct.Value())) {
	case "application/dtmf-relay":
		for _, line := range strings.Split(body, "\n") {
			k, v, _ := strings.Cut(line, "=")
			if strings.EqualFold(strings.TrimSpace(k), "signal") {
				body = strings.TrimSpace(v)
				break
			}
		}
	case "application/dtmf":
	default:
		return 0, false
	}
	switch {
	case len(body) == 1 && strings.ContainsRune(dtmfKeys, rune(body[0])):
		return rune(body[0]), true
	case body == "10":
		return '*', true
	case body == "11":
		return '#', true
	}
	return 0, false
}
