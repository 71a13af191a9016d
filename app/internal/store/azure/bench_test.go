package azure_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"

	"github.com/voicemail-platform/voicemail/app/internal/audio"
	"github.com/voicemail-platform/voicemail/app/internal/httpapi"
	"github.com/voicemail-platform/voicemail/app/internal/store/azure"
	vm "github.com/voicemail-platform/voicemail/app/internal/voicemail"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail/voicemailtest"
)

// Compare ns/op of the two in one run:
//
//	go test -run '^$' -bench 'Deposit|RawBlob' -benchtime 200x ./app/internal/store/azure/
//
// Both store the same 30 s 8 kHz PCM16 WAV (480 kB) in Azurite; the deposit goes through the
// HTTP API (loopback), the service and the Azure backend (blob + table row).

// benchRig is one Azure backend on Azurite with the HTTP API in front of it and a raw azblob
// client beside it, so every benchmark measures the same two operations.
type benchRig struct {
	b       *testing.B
	ctx     context.Context
	svc     *vm.Service
	url     string
	raw     *azblob.Client
	client  *http.Client
	wav     []byte
	audio   string // container
	mailbox string
	prefix  string
}

func newBenchRig(b *testing.B, prefix string) *benchRig {
	ctx := context.Background()
	cfg := config(az.ConnectionString())
	backend, err := azure.Open(ctx, cfg) // also creates the containers
	if err != nil {
		b.Fatal(err)
	}
	svc, err := vm.New(vm.Options{Backend: backend, Region: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	httpapi.New(httpapi.Options{Service: svc, OperatorToken: "bench-operator-token"}).Register(mux)
	srv := httptest.NewServer(mux)
	b.Cleanup(srv.Close)
	raw, err := azblob.NewClientFromConnectionString(az.ConnectionString(), nil)
	if err != nil {
		b.Fatal(err)
	}
	return &benchRig{b: b, ctx: ctx, svc: svc, url: srv.URL, raw: raw, client: &http.Client{},
		wav: voicemailtest.WAV(audio.PCM16, 30*time.Second), audio: cfg.AudioContainer, prefix: prefix}
}

// nextMailbox provisions a fresh mailbox every 50 deposits, a realistic mailbox size.
func (r *benchRig) nextMailbox(i int) {
	if i%50 != 0 {
		return
	}
	r.mailbox = fmt.Sprintf("%s%05d", r.prefix, i)
	if _, _, err := r.svc.Provision(r.ctx, r.mailbox, vm.ProvisionRequest{PIN: "1234", MaxMessages: 100}); err != nil {
		r.b.Fatal(err)
	}
}

// deposit posts the WAV through the HTTP API and returns how long it took.
func (r *benchRig) deposit() time.Duration {
	t0 := time.Now()
	req, _ := http.NewRequest("POST", r.url+"/v1/mailboxes/"+r.mailbox+"/messages", bytes.NewReader(r.wav))
	req.Header.Set("Authorization", "Bearer bench-operator-token")
	req.Header.Set("Content-Type", "audio/wav")
	resp, err := r.client.Do(req)
	if err != nil {
		r.b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		r.b.Fatalf("status %d", resp.StatusCode)
	}
	return time.Since(t0)
}

// upload stores the same WAV with a raw azblob upload and returns how long it took.
func (r *benchRig) upload(i int) time.Duration {
	t0 := time.Now()
	if _, err := r.raw.UploadBuffer(r.ctx, r.audio, fmt.Sprintf("raw/%d.wav", i), r.wav, nil); err != nil {
		r.b.Fatal(err)
	}
	return time.Since(t0)
}

func BenchmarkHTTPDepositAzure(b *testing.B) {
	r := newBenchRig(b, "49301")
	b.SetBytes(int64(len(r.wav)))
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer() // new mailboxes outside the timer
		r.nextMailbox(i)
		b.StartTimer()
		r.deposit()
	}
}

func BenchmarkRawBlobUpload(b *testing.B) {
	r := newBenchRig(b, "49303")
	b.SetBytes(int64(len(r.wav)))
	b.ResetTimer()
	for i := range b.N {
		r.upload(i)
	}
}

// BenchmarkDepositVsRawBlobPaired alternates one HTTP deposit and one raw azblob upload of the
// same 30 s WAV per iteration, so both see the same machine load, and reports the throughput
// ratio deposit/raw (target >= 0.7):
//
//	go test -run '^$' -bench Paired -benchtime 100x ./app/internal/store/azure/
func BenchmarkDepositVsRawBlobPaired(b *testing.B) {
	r := newBenchRig(b, "49302")
	var depositNs, rawNs time.Duration
	b.ResetTimer()
	for i := range b.N {
		r.nextMailbox(i)
		if i%2 == 0 {
			depositNs += r.deposit()
			rawNs += r.upload(i)
		} else {
			rawNs += r.upload(i)
			depositNs += r.deposit()
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(depositNs)/n, "deposit-ns/op")
	b.ReportMetric(float64(rawNs)/n, "rawblob-ns/op")
	b.ReportMetric(float64(rawNs)/float64(depositNs), "deposit/raw-throughput")
}

// BenchmarkDepositCPU shows where the machine's CPU goes per operation, for 200 raw uploads and
// then 200 HTTP deposits: this process (client, API, service, SDK) and each Azurite service,
// from /proc (Linux). On a 2-core machine the deposit/raw ratio above is bound by these sums.
//
//	go test -run '^$' -bench DepositCPU -benchtime 1x ./app/internal/store/azure/
func BenchmarkDepositCPU(b *testing.B) {
	r := newBenchRig(b, "49304")
	for range b.N {
		for _, arm := range []string{"raw", "deposit"} {
			before := processCPU(b)
			for i := range 200 {
				if arm == "raw" {
					r.upload(i)
				} else {
					r.nextMailbox(i)
					r.deposit()
				}
			}
			time.Sleep(200 * time.Millisecond) // let the asynchronous notifications finish
			for name, ms := range processCPU(b) {
				b.ReportMetric((ms-before[name])/200, arm+"-"+name+"-cpu-ms/op")
			}
		}
	}
}

// processCPU returns the CPU time (user + system, ms) of this process ("go") and of each child
// process, keyed by its program name (azurite-blob, ...).
func processCPU(b *testing.B) map[string]float64 {
	out := map[string]float64{}
	me := strconv.Itoa(os.Getpid())
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, f := range stats {
		raw, err := os.ReadFile(f)
		if err != nil {
			continue // exited meanwhile
		}
		s := string(raw)
		fields := strings.Fields(s[strings.LastIndex(s, ")")+2:]) // state, ppid, ...
		pid := filepath.Base(filepath.Dir(f))
		name := "go"
		if pid != me {
			if fields[1] != me {
				continue
			}
			cmd, _ := os.ReadFile("/proc/" + pid + "/cmdline")
			args := strings.Split(string(cmd), "\x00")
			if len(args) < 2 {
				continue
			}
			name = filepath.Base(args[1]) // node <script>
		}
		utime, _ := strconv.ParseFloat(fields[11], 64)
		stime, _ := strconv.ParseFloat(fields[12], 64)
		out[name] += (utime + stime) * 1000 / clockTicks
	}
	if len(out) < 2 {
		b.Fatal("no Azurite child processes found in /proc")
	}
	return out
}

// clockTicks is USER_HZ, 100 on every Linux platform Go supports.
const clockTicks = 100
