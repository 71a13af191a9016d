package sip

import (
	"context"
	"flag"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/audio"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail/voicemailtest"
)

var (
	dispatcherBenchRate  = flag.Int("sip.dispatcher.rate", 20, "BenchmarkDispatcherVsDirect: new calls per second")
	dispatcherBenchCalls = flag.Int("sip.dispatcher.calls", 200, "BenchmarkDispatcherVsDirect: calls per arm")
)

// loadResult is one arm of BenchmarkDispatcherVsDirect.
type loadResult struct {
	cps                     float64
	peak, failed, misrouted int
	elapsed                 time.Duration
}

// depositLoad runs -sip.dispatcher.calls sipp deposits (7.08 s of RTP each) at
// -sip.dispatcher.rate against target, spread over 20 mailboxes of svc, and counts: calls/s
// answered (first to last answer, over all replicas), the peak of concurrent calls, calls
// that were not answered, and misrouted recordings (a message missing, or one whose audio is
// not the streamed audio within 2 %: media that went to another replica than the one
// recording).
func depositLoad(b *testing.B, target string, svc *voicemail.Service, replicas []*fixture, prefix string) loadResult {
	ctx := context.Background()
	const mailboxes = 20
	csv := filepath.Join(b.TempDir(), "mailboxes.csv")
	var sb strings.Builder
	sb.WriteString("SEQUENTIAL\n")
	for i := range mailboxes {
		n := fmt.Sprintf("%s%02d", prefix, i)
		_, _, err := svc.Provision(ctx, n, voicemail.ProvisionRequest{PIN: "2468", MaxMessages: 10000})
		require.NoError(b, err)
		require.NoError(b, svc.PutGreeting(ctx, n, voicemail.GreetingUnavailable, toneWAV(600, 300)))
		fmt.Fprintf(&sb, "%s;\n", n)
	}
	require.NoError(b, os.WriteFile(csv, []byte(sb.String()), 0o600))
	stop := samplePeak(func() int {
		n := 0
		for _, f := range replicas {
			n += f.srv.ActiveCalls()
		}
		return n
	})
	calls := *dispatcherBenchCalls
	start := time.Now()
	err := runSipp(b, target, "deposit_bench.xml", map[string]string{"pcap": sippShare + "/g711a.pcap"},
		"-d", "1500", "-r", fmt.Sprint(*dispatcherBenchRate), "-l", "2000", "-m", fmt.Sprint(calls),
		"-timeout", fmt.Sprint(calls / *dispatcherBenchRate + 60), "-inf", csv)
	res := loadResult{elapsed: time.Since(start)}
	res.peak = stop()
	if err != nil {
		b.Logf("sipp: %v", err)
	}
	var answered []logEntry
	for _, f := range replicas {
		answered = append(answered, f.log.find("deposit call", nil)...)
	}
	res.failed = calls - len(answered)
	if len(answered) > 1 {
		res.cps = answeredRate(answered)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		total, wrong := 0, 0
		var wrongs []string
		for i := range mailboxes {
			n := fmt.Sprintf("%s%02d", prefix, i)
			msgs, err := svc.Messages(ctx, n, "")
			require.NoError(b, err)
			total += len(msgs)
			for _, m := range msgs {
				wav, err := svc.Audio(ctx, n, m.ID)
				require.NoError(b, err)
				w, err := audio.Parse(wav)
				require.NoError(b, err)
				if math.Abs(float64(len(w.Data)-g711aBytes))/g711aBytes >= 0.02 {
					wrong++
					wrongs = append(wrongs, fmt.Sprintf("%s/%s: %d of %d audio bytes", n, m.ID, len(w.Data), g711aBytes))
				}
			}
		}
		res.misrouted = wrong + max(0, len(answered)-total)
		if total >= len(answered) || time.Now().After(deadline) {
			if res.misrouted > 0 {
				b.Logf("%s: %d answered, %d stored; wrong audio: %v", target, len(answered), total, wrongs)
			}
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	return res
}

// BenchmarkDispatcherVsDirect runs the same deposit load (sipp, 7.08 s of RTP per call) twice
// in one run: straight to one replica, and through the stamp's Kamailio dispatcher (the
// generated configuration) in front of two replicas, each on its own address. It reports
// calls/s, peak concurrent calls, failed calls and misrouted recordings of each arm, and the
// ratio of the dispatcher's calls/s to the direct one's (target >= 0.8, 0 failed, 0 misrouted):
//
//	go test ./app/internal/sip -run '^$' -bench DispatcherVsDirect -benchtime 1x -sip.dispatcher.rate 20 -sip.dispatcher.calls 200
func BenchmarkDispatcherVsDirect(b *testing.B) {
	cfg := Config{SilenceTimeout: 30 * time.Second, MaxCalls: 5000,
		TrustedPeers: peers{netip.MustParsePrefix("127.0.0.0/8")}}
	dsvc := voicemailtest.New(b)
	direct := startAt(b, dsvc, cfg, "127.0.0.2")
	d := depositLoad(b, direct.addr, dsvc, []*fixture{direct}, "61")

	st := startStamp(b, 2, cfg)
	s := depositLoad(b, st.addr, st.svc, st.replicas, "62")
	per := st.calls()

	b.ReportMetric(d.cps, "direct-calls/s")
	b.ReportMetric(s.cps, "dispatcher-calls/s")
	b.ReportMetric(s.cps/d.cps, "ratio")
	b.ReportMetric(float64(d.peak), "direct-peak")
	b.ReportMetric(float64(s.peak), "dispatcher-peak")
	b.ReportMetric(float64(d.failed+s.failed), "failed")
	b.ReportMetric(float64(d.misrouted+s.misrouted), "misrouted")
	b.Logf("direct:     %d calls at -r %d: %.1f calls/s, peak %d, failed %d, misrouted %d (%v)",
		*dispatcherBenchCalls, *dispatcherBenchRate, d.cps, d.peak, d.failed, d.misrouted, d.elapsed.Round(time.Millisecond))
	b.Logf("dispatcher: %d calls at -r %d: %.1f calls/s, peak %d, failed %d, misrouted %d (%v); per replica %v",
		*dispatcherBenchCalls, *dispatcherBenchRate, s.cps, s.peak, s.failed, s.misrouted, s.elapsed.Round(time.Millisecond), per)
}
