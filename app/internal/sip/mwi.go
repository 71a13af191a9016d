package sip

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
	"github.com/voicemail-platform/voicemail/contract"
)

// maxSubscriptions bounds the goroutines and service subscriptions a SUBSCRIBE flood can pin.
const maxSubscriptions = 20000

// subscription is one SUBSCRIBE dialog for a mailbox's message-summary (RFC 3265/3842).
type subscription struct {
	id        string
	number    string
	callID    string
	local     sip.Uri // our side (their To)
	localTag  string
	remote    sip.Uri // their From
	remoteTag string
	target    sip.Uri // their Contact
	transport string
	source    string
	// routes is the dialog's route set (RFC 3261 §12.1.1): the SUBSCRIBE's Record-Route
	// values in order. A NOTIFY carries them as Route headers and goes to the first, so it
	// follows the proxies (a stamp dispatcher, an SBC) that asked to stay in the dialog.
	routes  []string
	cseq    atomic.Uint32
	refresh chan int // new expiry in seconds; 0 ends the subscription
	once    sync.Once
}

// splitRoutes splits a Record-Route value into its comma-separated name-addrs (commas inside
// <...> belong to the URI).
func splitRoutes(v string) []string {
	var out []string
	depth, start := 0, 0
	for i, c := range v {
		switch c {
		case '<':
			depth++
		case '>':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, strings.TrimSpace(v[start:i]))
				start = i + 1
			}
		}
	}
	if rest := strings.TrimSpace(v[start:]); rest != "" {
		out = append(out, rest)
	}
	return out
}

// routeURI is the URI of a name-addr ("<sip:p.example;lr>;x=y" gives "sip:p.example;lr").
func routeURI(v string) string {
	if i := strings.IndexByte(v, '<'); i >= 0 {
		if j := strings.IndexByte(v[i:], '>'); j > 0 {
			return v[i+1 : i+j]
		}
	}
	return strings.TrimSpace(v)
}

func messageSummary(account string, sum voicemail.Summary) []byte {
	waiting := "no"
	if sum.New > 0 {
		waiting = "yes"
	}
	return []byte(fmt.Sprintf("Messages-Waiting: %s\r\nMessage-Account: %s\r\nVoice-Message: %d/%d (0/0)\r\n",
		waiting, account, sum.New, sum.Old))
}

func (s *Server) account(number string) string {
	return "sip:" + number + "@" + s.cfg.Domain
}

func (s *Server) onSubscribe(req *sip.Request, tx sip.ServerTransaction) {
	if _, inDialog := req.To().Params.Get("tag"); !inDialog && !s.admitted(req) {
		s.refuse(tx, req)
		return
	}
	ev := req.GetHeader("Event")
	if ev == nil || !strings.EqualFold(strings.TrimSpace(strings.SplitN(ev.Value(), ";", 2)[0]), "message-summary") {
		s.respond(tx, req, 489, "Bad Event", sip.NewHeader("Allow-Events", "message-summary"))
		return
	}
	expires := 3600
	if h := req.GetHeader("Expires"); h != nil {
		n, err := strconv.Atoi(strings.TrimSpace(h.Value()))
		if err != nil || n < 0 {
			s.respond(tx, req, 400, "Bad Request")
			return
		}
		expires = n
	}
	expires = min(expires, s.cfg.MWIExpires)

	fromTag, _ := req.From().Params.Get("tag")
	if toTag, ok := req.To().Params.Get("tag"); ok {
		// Refresh or unsubscribe within an existing subscription.
		s.mu.Lock()
		sub := s.subs[req.CallID().Value()+"|"+toTag+"|"+fromTag]
		s.mu.Unlock()
		if sub == nil {
			s.respond(tx, req, 481, "Subscription Does Not Exist")
			return
		}
		s.respond(tx, req, 200, "OK", sip.NewHeader("Expires", strconv.Itoa(expires)))
		select {
		case sub.refresh <- expires:
		case <-s.base.Done():
		}
		return
	}

	if s.refuseDraining(req, tx) {
		return
	}
	s.mu.Lock()
	n := len(s.subs)
	s.mu.Unlock()
	if n >= maxSubscriptions {
		s.respond(tx, req, 503, "Service Unavailable", sip.NewHeader("Retry-After", "60"))
		return
	}
	if s.overRate(tx, req) {
		return
	}
	// Only the mailbox's owner may watch it: the subscriber is the caller a trusted peer
	// asserts (or, from anyone else, the From user). Someone else's mailbox and a mailbox that
	// does not exist get the same 403, so SUBSCRIBE tells nothing about which numbers exist.
	who := routeOf(req, s.trusted(req)).Caller
	number := req.Recipient.User
	if slices.Contains(s.cfg.AccessNumbers, number) {
		number = who
	}
	if number == "" || strings.TrimPrefix(number, "+") != strings.TrimPrefix(who, "+") {
		s.respond(tx, req, 403, "Forbidden")
		return
	}
	ctx, cancel := s.deadline(5 * time.Second)
	defer cancel()
	mb, err := s.svc.Mailbox(ctx, number)
	if err != nil {
		if isNotFound(err) {
			s.respond(tx, req, 403, "Forbidden")
		} else {
			s.respond(tx, req, 503, "Service Unavailable")
		}
		return
	}
	var release []func()
	if expires > 0 {
		// Bounded per mailbox, and per source unless a trusted peer carries everyone's.
		keys := map[string]int{"mbox:" + number: s.cfg.MaxSubsPerMailbox}
		if !s.trusted(req) {
			keys["ip:"+sourceIP(req).String()] = s.cfg.MaxSubsPerSource
		}
		for k, limit := range keys {
			r, ok := s.subsBy.take(k, limit)
			if !ok {
				for _, r := range release {
					r()
				}
				s.limited.Add(1)
				s.respond(tx, req, 503, "Service Unavailable", sip.NewHeader("Retry-After", "60"))
				return
			}
			release = append(release, r)
		}
	}
	releaseAll := func() {
		for _, r := range release {
			r()
		}
	}
	if mb.Notify.MWITarget != "" {
		s.watch(number)
	}
	sub := &subscription{
		number: number, callID: req.CallID().Value(), local: req.To().Address, localTag: sip.GenerateTagN(16),
		remote: req.From().Address, remoteTag: fromTag, target: req.Contact().Address,
		transport: req.Transport(), source: req.Source(), refresh: make(chan int, 1),
	}
	for _, h := range req.GetHeaders("Record-Route") {
		// One header may carry several comma-separated values.
		sub.routes = append(sub.routes, splitRoutes(h.Value())...)
	}
	sub.id = sub.callID + "|" + sub.localTag + "|" + sub.remoteTag
	sub.cseq.Store(uint32(time.Now().Unix() % 100000))

	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	res.To().Params.Add("tag", sub.localTag)
	ct := s.contact(req.Transport())
	res.AppendHeader(&ct)
	res.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(expires)))
	if err := tx.Respond(res); err != nil {
		releaseAll()
		s.log.Info("subscribe response", "error", err)
		return
	}
	if expires == 0 {
		// A fetch (RFC 3265 §3.3.6): one NOTIFY with the state, then done.
		go s.notifyOnce(sub, "terminated")
		return
	}
	s.mu.Lock()
	s.subs[sub.id] = sub
	s.mu.Unlock()
	s.log.Info("mwi subscribed", "mailbox", number, "expires", expires)
	go func() {
		defer releaseAll()
		s.runSubscription(sub, expires)
	}()
}

func (s *Server) notifyOnce(sub *subscription, state string) {
	ctx, cancel := s.deadline(10 * time.Second)
	defer cancel()
	sum, err := s.svc.Summary(ctx, sub.number)
	if err != nil {
		s.log.Warn("mwi summary", "mailbox", sub.number, "error", err)
		return
	}
	_ = s.sendNotify(ctx, sub, sum, state)
}

// runSubscription sends the current state at once and again on every change, until the
// subscription expires, is ended by the subscriber, or the server stops.
func (s *Server) runSubscription(sub *subscription, expires int) {
	events, unsubscribe := s.svc.Subscribe(sub.number)
	defer unsubscribe()
	defer func() {
		s.mu.Lock()
		delete(s.subs, sub.id)
		s.mu.Unlock()
	}()
	deadline := time.Now().Add(time.Duration(expires) * time.Second)
	state := func() string {
		left := int(time.Until(deadline).Seconds())
		return "active;expires=" + strconv.Itoa(max(left, 0))
	}
	send := func(sum voicemail.Summary, st string) bool {
		ctx, cancel := s.deadline(10 * time.Second)
		defer cancel()
		return s.sendNotify(ctx, sub, sum, st) == nil
	}
	ctx, cancel := s.deadline(5 * time.Second)
	sum, err := s.svc.Summary(ctx, sub.number)
	cancel()
	if err != nil {
		s.log.Warn("mwi summary", "mailbox", sub.number, "error", err)
	}
	if !send(sum, state()) {
		return
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		select {
		case <-s.base.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			sum = ev.Summary
			if !send(sum, state()) {
				return
			}
		case n := <-sub.refresh:
			if n == 0 {
				send(sum, "terminated") // the subscriber unsubscribed
				return
			}
			deadline = time.Now().Add(time.Duration(n) * time.Second)
			timer.Reset(time.Until(deadline))
		case <-timer.C:
			send(sum, "terminated;reason=timeout")
			return
		}
	}
}

// sendNotify sends one in-dialog NOTIFY and reports an error if the subscriber is gone.
func (s *Server) sendNotify(ctx context.Context, sub *subscription, sum voicemail.Summary, state string) error {
	req := sip.NewRequest(sip.NOTIFY, sub.target)
	from := &sip.FromHeader{Address: sub.local, Params: sip.NewParams()}
	from.Params.Add("tag", sub.localTag)
	to := &sip.ToHeader{Address: sub.remote, Params: sip.NewParams()}
	to.Params.Add("tag", sub.remoteTag)
	callID := sip.CallIDHeader(sub.callID)
	cseq := &sip.CSeqHeader{SeqNo: sub.cseq.Add(1), MethodName: sip.NOTIFY}
	maxFwd := sip.MaxForwardsHeader(70)
	ct := s.contact(sub.transport)
	for _, h := range []sip.Header{from, to, &callID, cseq, &maxFwd, &ct,
		sip.NewHeader("Event", "message-summary"),
		sip.NewHeader("Subscription-State", state),
		sip.NewHeader("Content-Type", "application/simple-message-summary")} {
		req.AppendHeader(h)
	}
	req.SetBody(messageSummary(s.account(sub.number), sum))
	req.SetTransport(sub.transport)
	req.SetDestination(sub.source) // where the SUBSCRIBE came from: works behind NAT
	if len(sub.routes) > 0 {
		for _, r := range sub.routes {
			req.AppendHeader(sip.NewHeader("Route", r))
		}
		// Loose routing: the request goes to the first route, over its transport.
		var first sip.Uri
		if err := sip.ParseUri(routeURI(sub.routes[0]), &first); err == nil {
			req.SetDestination(first.HostPort())
			if tr, ok := first.UriParams.Get("transport"); ok {
				req.SetTransport(strings.ToUpper(tr))
			}
		}
	}
	res, err := s.client.Do(ctx, req)
	if err == nil && res == nil {
		err = errors.New("no response") // a transaction torn down under load or at shutdown
	}
	if err != nil {
		s.log.Info("mwi notify failed", "mailbox", sub.number, "error", err)
		return err
	}
	if res.StatusCode >= 300 {
		s.log.Info("mwi notify refused", "mailbox", sub.number, "status", res.StatusCode)
		return fmt.Errorf("notify: %d %s", res.StatusCode, res.Reason)
	}
	s.log.Info("mwi notify", "mailbox", sub.number, "new", sum.New, "old", sum.Old, "state", state)
	return nil
}

// mwiTargetsInterval is how often the list of mailboxes with an MWI target is read again, to
// pick up targets configured after start (through the HTTP API of any stamp).
const mwiTargetsInterval = time.Minute

// watchTargets watches every mailbox with an MWI target, at start and every
// mwiTargetsInterval, until ctx ends.
func (s *Server) watchTargets(ctx context.Context) {
	t := time.NewTicker(mwiTargetsInterval)
	defer t.Stop()
	for {
		lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		numbers, err := s.svc.MWITargets(lctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			s.log.Warn("list mwi targets", "error", err)
		}
		for _, n := range numbers {
			s.watch(n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// watch starts (once per mailbox) unsolicited MWI: on every change the mailbox's configured
// Notify.MWITarget gets an out-of-dialog message-summary NOTIFY. Mailboxes are watched from
// start (watchTargets) or the first time this server sees them (a call or a subscription)
// until it stops.
func (s *Server) watch(number string) {
	s.mu.Lock()
	if _, ok := s.watched[number]; ok {
		s.mu.Unlock()
		return
	}
	events, unsubscribe := s.svc.Subscribe(number)
	s.watched[number] = unsubscribe
	s.mu.Unlock()
	s.log.Debug("mwi watch", "mailbox", number)
	go func() {
		defer unsubscribe()
		for {
			select {
			case <-s.base.Done():
				return
			case ev, ok := <-events:
				if !ok {
					return
				}
				s.unsolicited(ev)
			}
		}
	}()
}

// unsolicited sends the out-of-dialog NOTIFY for a change this process made. Every replica
// watches the mailbox, but only the one that made the change sends, so the target gets one
// NOTIFY per change, not one per replica.
func (s *Server) unsolicited(ev voicemail.Event) {
	if !ev.Local {
		return
	}
	ctx, cancel := s.deadline(10 * time.Second)
	defer cancel()
	mb, err := s.svc.Mailbox(ctx, ev.Mailbox)
	if err != nil || mb.Notify.MWITarget == "" {
		return
	}
	if !contract.MWITargetAllowed(mb.Notify.MWITarget, s.cfg.MWIDomains) {
		// Stored before the operator's list changed, or written by an older release.
		s.log.Warn("mwi target outside the MWI domains; not notified", "mailbox", ev.Mailbox,
			"target", truncate(mb.Notify.MWITarget, 80))
		return
	}
	var target sip.Uri
	if err := sip.ParseUri(mb.Notify.MWITarget, &target); err != nil {
		s.log.Warn("mwi target unusable", "mailbox", ev.Mailbox, "target", mb.Notify.MWITarget, "error", err)
		return
	}
	req := sip.NewRequest(sip.NOTIFY, target)
	var acct sip.Uri
	_ = sip.ParseUri(s.account(ev.Mailbox), &acct)
	from := &sip.FromHeader{Address: acct, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	to := &sip.ToHeader{Address: target}
	ct := s.contact("udp")
	for _, h := range []sip.Header{from, to, &ct,
		sip.NewHeader("Event", "message-summary"),
		sip.NewHeader("Subscription-State", "active"),
		sip.NewHeader("Content-Type", "application/simple-message-summary")} {
		req.AppendHeader(h)
	}
	req.SetBody(messageSummary(s.account(ev.Mailbox), ev.Summary))
	if tr, ok := target.UriParams.Get("transport"); ok {
		req.SetTransport(strings.ToUpper(tr))
	}
	res, err := s.client.Do(ctx, req)
	if err != nil {
		s.log.Info("unsolicited mwi failed", "mailbox", ev.Mailbox, "target", mb.Notify.MWITarget, "error", err)
		return
	}
	s.log.Info("unsolicited mwi", "mailbox", ev.Mailbox, "target", mb.Notify.MWITarget, "status", res.StatusCode,
		"new", ev.Summary.New, "old", ev.Summary.Old)
}

// truncate bounds a value a subscriber chose before it is logged.
func truncate(v string, n int) string {
	if len(v) <= n {
		return v
	}
	return v[:n] + "..."
}
