package sip

import (
	"context"
	"flag"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/audio"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
)

var (
	benchRate  = flag.Int("sip.rate", 50, "BenchmarkSippDeposits: new calls per second")
	benchCalls = flag.Int("sip.calls", 1000, "BenchmarkSippDeposits: total calls")
)

// BenchmarkSippDeposits places sipp deposit calls (INVITE, 0.3 s greeting and beep, a 1.5 s
// wait, the 7.08 s g711a.pcap streamed as RTP, BYE 8.5 s later; the margins keep a starved
// sipp or server from cutting the stream) at -sip.rate calls per second against one server with the
// embedded store, and reports the rate, the peak of concurrent calls, failed calls and the
// worst difference between a stored recording and the streamed audio. It runs the load once
// whatever b.N is:
//
//	go test ./app/internal/sip -run '^$' -bench SippDeposits -benchtime 1x -sip.rate 50 -sip.calls 1000
func BenchmarkSippDeposits(b *testing.B) {
	const mailboxes = 50
	f := start(b, Config{SilenceTimeout: 30 * time.Second, RTPPortMin: 30000, RTPPortMax: 40000, MaxCalls: 5000,
		TrustedPeers: peers{netip.MustParsePrefix("127.0.0.0/8")}}) // sipp stands in for an SBC
	ctx := context.Background()
	for i := 0; i < mailboxes; i++ {
		n := fmt.Sprintf("4%03d", i)
		_, _, err := f.svc.Provision(ctx, n, voicemail.ProvisionRequest{PIN: "2468", MaxMessages: 10000})
		require.NoError(b, err)
		require.NoError(b, f.svc.PutGreeting(ctx, n, voicemail.GreetingUnavailable, toneWAV(600, 300)))
	}
	stop := samplePeak(f.srv.ActiveCalls)

	b.ResetTimer()
	start := time.Now()
	// [field0] from the injection file spreads calls over the mailboxes.
	err := runSipp(b, f.addr, "deposit_bench.xml", map[string]string{"pcap": sippShare + "/g711a.pcap"},
		"-d", "1500", "-r", fmt.Sprint(*benchRate), "-l", "2000", "-m", fmt.Sprint(*benchCalls),
		"-timeout", fmt.Sprint(*benchCalls / *benchRate + 60), "-inf", mailboxCSV(b, mailboxes))
	elapsed := time.Since(start)
	peak := stop()
	b.StopTimer()
	require.NoError(b, err, "sipp reported failed calls")

	// Every call left a message whose audio matches what sipp streamed.
	deadline := time.Now().Add(30 * time.Second)
	var total int
	var off []int
	worst := 0.0
	for time.Now().Before(deadline) {
		total, worst, off = 0, 0, nil
		for i := 0; i < mailboxes; i++ {
			n := fmt.Sprintf("4%03d", i)
			msgs, err := f.svc.Messages(ctx, n, "")
			require.NoError(b, err)
			total += len(msgs)
			for _, m := range msgs {
				wav, err := f.svc.Audio(ctx, n, m.ID)
				require.NoError(b, err)
				w, err := audio.Parse(wav)
				require.NoError(b, err)
				d := math.Abs(float64(len(w.Data)-g711aBytes)) / g711aBytes * 100
				if d >= 2 {
					off = append(off, len(w.Data))
				}
				worst = math.Max(worst, d)
			}
		}
		if total >= *benchCalls {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if total != *benchCalls {
		for _, msg := range []string{"message stored", "nothing recorded, no message", "deposit failed", "call not established", "deposit check failed, recording anyway"} {
			b.Logf("%q: %d", msg, len(f.log.find(msg, nil)))
		}
		for i, e := range f.log.find("call not established", nil) {
			if i < 3 {
				b.Logf("not established: %v", e.Attrs)
			}
		}
		for _, e := range f.log.find("recorded", nil) {
			if e.Attrs["bytes"] == "0" {
				b.Logf("empty recording: %v", e.Attrs)
			}
		}
	}
	require.Equal(b, *benchCalls, total, "every call stored a message")
	if worst >= 2 {
		// Say where the audio went: packets that came before the beep, or never arrived.
		for _, e := range f.log.find("recorded", nil) {
			if n, _ := strconv.Atoi(e.Attrs["bytes"]); math.Abs(float64(n-g711aBytes))/g711aBytes >= 0.02 {
				b.Logf("short recording: %v", e.Attrs)
			}
		}
	}
	require.Less(b, worst, 2.0, "recordings off by 2 %% or more (bytes): %v", off)
	// The achieved call rate is measured at the server, from the first to the last answered call.
	answered := f.log.find("deposit call", nil)
	require.Len(b, answered, *benchCalls)
	cps := answeredRate(answered)
	b.ReportMetric(cps, "calls/s")
	b.ReportMetric(float64(peak), "peak-concurrent")
	b.ReportMetric(0, "failed")
	b.ReportMetric(worst, "max-bytes-diff-%")
	b.Logf("%d calls at -r %d in %v: %.1f calls/s answered, peak %d concurrent, 0 failed, worst recording %.2f%% off %d bytes",
		*benchCalls, *benchRate, elapsed.Round(time.Millisecond), cps, peak, worst, g711aBytes)
}

// samplePeak samples active every 50 ms until the returned stop, which gives the peak seen.
func samplePeak(active func() int) (stop func() int) {
	var peak atomic.Int64
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if n := int64(active()); n > peak.Load() {
					peak.Store(n)
				}
			}
		}
	}()
	return func() int { close(done); <-exited; return int(peak.Load()) }
}

// answeredRate is the call rate the server achieved: answered calls per second from the first
// to the last answer (at least two answers).
func answeredRate(answered []logEntry) float64 {
	first, last := answered[0].Time, answered[0].Time
	for _, e := range answered {
		if e.Time.Before(first) {
			first = e.Time
		}
		if e.Time.After(last) {
			last = e.Time
		}
	}
	return float64(len(answered)-1) / last.Sub(first).Seconds()
}

// mailboxCSV writes a sipp injection file naming the benchmark mailboxes, one per line.
func mailboxCSV(b *testing.B, n int) string {
	p := filepath.Join(b.TempDir(), "mailboxes.csv")
	var sb strings.Builder
	sb.WriteString("SEQUENTIAL\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "4%03d;\n", i)
	}
	require.NoError(b, os.WriteFile(p, []byte(sb.String()), 0o600))
	return p
}
