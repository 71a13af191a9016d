package runner

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/voicemail-platform/voicemail/app/internal/audio"
)

// event is one client request of the steady load.
type event struct {
	at    time.Time // start
	end   time.Time
	kind  string // deposit, sip, imap
	ok    bool
	stamp string // serving stamp when known (Traffic Manager header)
	err   string
}

// deposit is an accepted deposit: the API answered 201 with this id.
type deposit struct{ mailbox, id, stamp string }

// load is steady client traffic: HTTP deposits through the traffic manager, SIP OPTIONS and
// IMAP logins through the two edge instances, alternating.
type load struct {
	c         *Cluster
	mailboxes []string
	pin       string
	wav       []byte
	client    *http.Client
	// sip and imap are set when the stamps serve those protocols, so the edges carry load.
	sip, imap bool

	mu       sync.Mutex
	inflight map[int64]time.Time // request start times, by sequence number
	events   []event
	accepted []deposit
	seq      atomic.Int64
}

func newLoad(c *Cluster, mailboxes []string) *load {
	return &load{c: c, mailboxes: mailboxes, pin: "2468",
		wav: audio.Encode(audio.ALaw, audio.FromPCM16(audio.ALaw, audio.Tone(440, 200, 8000))),
		// No keep-alive reuse across failover surprises: each request resolves afresh, like a
		// client whose DNS TTL has expired.
		client: c.HTTPClient(8 * time.Second)}
}

// begin registers a request in flight; the returned function records its outcome.
func (l *load) begin(e *event) func() {
	id := l.seq.Add(1)
	l.mu.Lock()
	if l.inflight == nil {
		l.inflight = map[int64]time.Time{}
	}
	l.inflight[id] = e.at
	l.mu.Unlock()
	return func() {
		e.end = time.Now()
		l.mu.Lock()
		delete(l.inflight, id)
		l.events = append(l.events, *e)
		l.mu.Unlock()
	}
}

// settle waits (up to the client timeout) until every request started before t has finished,
// so a window counts the requests a fault left hanging.
func (l *load) settle(t time.Time) {
	deadline := time.Now().Add(l.client.Timeout + time.Second)
	for time.Now().Before(deadline) {
		busy := false
		l.mu.Lock()
		for _, at := range l.inflight {
			if at.Before(t) {
				busy = true
			}
		}
		l.mu.Unlock()
		if !busy {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// run starts the workers; the returned function stops them and waits.
func (l *load) run(depositWorkers int) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range depositWorkers {
		wg.Go(func() {
			for n := i; ctx.Err() == nil; n += depositWorkers {
				l.depositOnce(ctx, l.c.TMURL, l.mailboxes[n%len(l.mailboxes)])
				sleepCtx(ctx, 120*time.Millisecond)
			}
		})
	}
	if l.sip && len(l.c.Edges) > 0 && l.c.Edges[0].SIPAddr() != "" {
		wg.Go(func() {
			conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				return
			}
			defer conn.Close()
			for n := 0; ctx.Err() == nil; n++ {
				l.sipOnce(conn, l.c.Edges[n%len(l.c.Edges)].SIPAddr())
				sleepCtx(ctx, 60*time.Millisecond)
			}
		})
	}
	if l.imap && len(l.c.Edges) > 0 && l.c.Edges[0].IMAPAddr() != "" {
		wg.Go(func() {
			for n := 0; ctx.Err() == nil; n++ {
				l.imapOnce(l.c.Edges[n%len(l.c.Edges)].IMAPAddr(), l.mailboxes[n%len(l.mailboxes)])
				sleepCtx(ctx, 100*time.Millisecond)
			}
		})
	}
	return func() { cancel(); wg.Wait() }
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// depositOnce posts one deposit to base (the traffic manager or a stamp).
func (l *load) depositOnce(ctx context.Context, base, mailbox string) (deposit, bool) {
	return l.depositBody(ctx, base, mailbox, bytes.NewReader(l.wav), int64(len(l.wav)))
}

func (l *load) depositBody(ctx context.Context, base, mailbox string, body io.Reader, size int64) (deposit, bool) {
	e := event{at: time.Now(), kind: "deposit"}
	defer l.begin(&e)()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/mailboxes/"+mailbox+"/messages", body)
	if err != nil {
		e.err = err.Error()
		return deposit{}, false
	}
	req.ContentLength = size
	req.Header.Set("Authorization", "Bearer "+l.c.Token)
	req.Header.Set("Content-Type", "audio/wav")
	req.Header.Set("X-Caller-Id", fmt.Sprintf("555%07d", l.seq.Add(1)))
	res, err := l.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			e.kind = "aborted" // the load was stopped, not a failure
		}
		e.err = err.Error()
		return deposit{}, false
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	e.stamp = res.Header.Get("X-Traffic-Manager-Endpoint")
	if res.StatusCode != http.StatusCreated {
		e.err = fmt.Sprintf("%d %s", res.StatusCode, strings.TrimSpace(string(b)))
		return deposit{}, false
	}
	var m struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(b, &m); err != nil || m.ID == "" {
		e.err = "201 without id: " + string(b)
		return deposit{}, false
	}
	e.ok = true
	d := deposit{mailbox: mailbox, id: m.ID, stamp: e.stamp}
	l.mu.Lock()
	l.accepted = append(l.accepted, d)
	l.mu.Unlock()
	return d, true
}

func (l *load) sipOnce(conn *net.UDPConn, gw string) {
	e := event{at: time.Now(), kind: "sip"}
	defer l.begin(&e)()
	id := fmt.Sprintf("load-%d@127.0.0.1", l.seq.Add(1))
	msg := fmt.Sprintf("OPTIONS sip:%s@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-%s;rport\r\nFrom: <sip:load@127.0.0.1>;tag=1\r\nTo: <sip:%s@%s>\r\nCall-ID: %s\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
		l.mailboxes[0], gw, conn.LocalAddr(), strings.ReplaceAll(id, "@", "."), l.mailboxes[0], gw, id)
	ua, _ := net.ResolveUDPAddr("udp", gw)
	buf := make([]byte, 8192)
	deadline := time.Now().Add(2 * time.Second)
	// UDP: retransmit like a SIP client (timer E), 500 ms apart.
	for attempt := 0; time.Now().Before(deadline); attempt++ {
		if _, err := conn.WriteToUDP([]byte(msg), ua); err != nil {
			e.err = err.Error()
			return
		}
		_ = conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		for {
			n, _, err := conn.ReadFromUDP(buf)
			if err != nil {
				break
			}
			resp := string(buf[:n])
			if !strings.Contains(resp, id) {
				continue // a late answer to an earlier request
			}
			code := strings.SplitN(resp, " ", 3)
			if len(code) > 1 && code[1] == "200" {
				e.ok = true
				return
			}
			if len(code) > 1 && code[1][0] >= '2' {
				e.err = strings.SplitN(resp, "\r\n", 2)[0]
				return
			}
		}
	}
	if e.err == "" {
		e.err = "no SIP answer"
	}
}

func (l *load) imapOnce(gw, mailbox string) {
	e := event{at: time.Now(), kind: "imap"}
	defer l.begin(&e)()
	c, err := net.DialTimeout("tcp", gw, 2*time.Second)
	if err != nil {
		e.err = err.Error()
		return
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(4 * time.Second))
	r := bufio.NewReader(c)
	greet, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(greet, "* OK") {
		e.err = fmt.Sprintf("greeting %q %v", greet, err)
		return
	}
	// Stamps refuse login before TLS (LOGINDISABLED): upgrade first, as a client must.
	fmt.Fprintf(c, "a0 STARTTLS\r\n")
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "a0 OK") {
		e.err = fmt.Sprintf("STARTTLS %q %v", line, err)
		return
	}
	cfg := l.c.ClientTLS()
	cfg.ServerName = "localhost" // the gateway's address is not the stamp's name
	tc := tls.Client(c, cfg)
	if err := tc.Handshake(); err != nil {
		e.err = "STARTTLS handshake: " + err.Error()
		return
	}
	r = bufio.NewReader(tc)
	fmt.Fprintf(tc, "a1 LOGIN %s %s\r\na2 SELECT INBOX\r\na3 LOGOUT\r\n", mailbox, l.pin)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			e.err = "closed before LOGOUT completed: " + err.Error()
			return
		}
		if strings.HasPrefix(line, "a1 ") || strings.HasPrefix(line, "a2 ") {
			if !strings.Contains(line, " OK") {
				e.err = strings.TrimSpace(line)
				return
			}
		}
		if strings.HasPrefix(line, "a3 OK") {
			e.ok = true
			return
		}
	}
}

// window summarizes the events that started in [from, to).
type window struct {
	total, failed           int
	byKind, failedByKind    map[string]int
	lastFailure, lastServed time.Time // lastServed: last request served by one of the watched stamps
	firstErrs               []string
	failures                []event
	from                    time.Time
}

func (l *load) window(from, to time.Time, watched ...string) window {
	l.settle(to)
	l.mu.Lock()
	defer l.mu.Unlock()
	w := window{byKind: map[string]int{}, failedByKind: map[string]int{}, from: from}
	for _, e := range l.events {
		// Requests in flight when the window opened count too: a fault hits them.
		if e.kind == "aborted" || e.end.Before(from) || !e.at.Before(to) {
			continue
		}
		w.total++
		w.byKind[e.kind]++
		if !e.ok {
			w.failed++
			w.failedByKind[e.kind]++
			if e.end.After(w.lastFailure) {
				w.lastFailure = e.end
			}
			w.failures = append(w.failures, e)
			if len(w.firstErrs) < 3 {
				w.firstErrs = append(w.firstErrs, e.kind+"@"+e.stamp+": "+e.err)
			}
		}
		for _, s := range watched {
			if e.stamp == s && e.end.After(w.lastServed) {
				w.lastServed = e.end
			}
		}
	}
	return w
}

func (w window) ratio() float64 {
	if w.total == 0 {
		return 1
	}
	return float64(w.total-w.failed) / float64(w.total)
}

func (l *load) acceptedSince(n int) []deposit {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]deposit(nil), l.accepted[n:]...)
}

func (l *load) acceptedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.accepted)
}

// report prints a case's figures in one stable line.
func report(t *testing.T, n int, name string, w window, recovery time.Duration, accepted, lost int, extra string) {
	t.Helper()
	t.Logf("FAILURE-CASE %d %-22s requests=%d failed=%d success_ratio=%.3f (deposit %d/%d, sip %d/%d, imap %d/%d failed) recovery=%.2fs deposits_accepted=%d deposits_lost=%d %s",
		n, name, w.total, w.failed, w.ratio(),
		w.failedByKind["deposit"], w.byKind["deposit"], w.failedByKind["sip"], w.byKind["sip"], w.failedByKind["imap"], w.byKind["imap"],
		recovery.Seconds(), accepted, lost, extra)
	if len(w.firstErrs) > 0 {
		t.Logf("  first errors: %s", strings.Join(w.firstErrs, " | "))
	}
	if os.Getenv("FAILURE_DEBUG") != "" {
		for _, e := range w.failures {
			t.Logf("  failed %s +%.2fs..+%.2fs %s %s", e.kind, e.at.Sub(w.from).Seconds(), e.end.Sub(w.from).Seconds(), e.stamp, e.err)
		}
	}
}

// startedFailures describes the failed requests of kind that started inside the window (not
// those already in flight when it opened).
func (w window) startedFailures(kind string) []string {
	var out []string
	for _, e := range w.failures {
		if e.kind == kind && !e.at.Before(w.from) {
			out = append(out, fmt.Sprintf("%s %s: %s", e.at.Format("15:04:05.000"), e.stamp, e.err))
		}
	}
	return out
}
