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
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"

	"github.com/voicemail-platform/voicemail/app/internal/audio"
	"github.com/voicemail-platform/voicemail/app/internal/httpapi"
	"github.com/voicemail-platform/voicemail/app/internal/store"
	"github.com/voicemail-platform/voicemail/app/internal/store/azure"
	vm "github.com/voicemail-platform/voicemail/app/internal/voicemail"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail/voicemailtest"
)

// Compare ns/op of the two in one run:
//
//	go test -run '^$' -bench 'HTTPDeposit|RawBlob' -benchtime 200x ./app/internal/store/azure/
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

func newBenchRig(b *testing.B, prefix string) *benchRig { return newRig(b, prefix, true) }

// newRig is newBenchRig; with notify false the service sends no deposit notifications.
func newRig(b *testing.B, prefix string, notify bool) *benchRig {
	ctx := context.Background()
	cfg := config(az.ConnectionString())
	backend, err := azure.Open(ctx, cfg) // also creates the containers
	if err != nil {
		b.Fatal(err)
	}
	if !notify {
		backend.Notify = nil
	}
	svc, err := vm.New(vm.Options{AllowGuessablePINs: true, Backend: backend, Region: "bench"})
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

// nextMailbox switches to a fresh mailbox every 50 deposits, a realistic mailbox size.
func (r *benchRig) nextMailbox(i int) {
	name := fmt.Sprintf("%s%05d", r.prefix, i/50*50)
	if name == r.mailbox {
		return
	}
	r.mailbox = name
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

// BenchmarkDepositVsRawBlobPaired runs HTTP deposits and raw azblob uploads of the same 30 s
// WAV in alternating blocks (see pairedBlocks), so both see the same machine load, and reports
// the throughput ratio deposit/raw (target >= 0.7):
//
//	go test -run '^$' -bench Paired -benchtime 100x ./app/internal/store/azure/
func BenchmarkDepositVsRawBlobPaired(b *testing.B) {
	r := newBenchRig(b, "49302")
	b.ResetTimer()
	took := pairedBlocks(b.N, r.upload, func(i int) time.Duration { r.nextMailbox(i); return r.deposit() })
	n := float64(b.N)
	b.ReportMetric(float64(took[1])/n, "deposit-ns/op")
	b.ReportMetric(float64(took[0])/n, "rawblob-ns/op")
	b.ReportMetric(float64(took[0])/float64(took[1]), "deposit/raw-throughput")
}

// pairedBlocks runs each arm n times and returns each arm's total time. The arms take turns in
// blocks of ten, in rotating order. A deposit leaves work behind (its notification is sent
// after the response), which slows whatever runs next; in blocks that work is charged to the
// deposits themselves, as in a stream of deposits, except at block edges. Alternating single
// operations would charge about half of it to the raw uploads.
func pairedBlocks(n int, arms ...func(i int) time.Duration) []time.Duration {
	const block = 10
	took := make([]time.Duration, len(arms))
	for first := 0; first < n; first += block {
		for k := range arms {
			a := (first/block + k) % len(arms)
			for i := first; i < min(first+block, n); i++ {
				took[a] += arms[a](i)
			}
		}
	}
	return took
}

// BenchmarkDepositParts splits the deposit/raw ratio into its parts. Each iteration runs the
// raw upload and four POSTs of the same WAV over loopback HTTP, two to a handler that does only
// the named storage calls and two to the service (see pairedBlocks):
//
//   - store: the handler uploads the audio, then inserts its row, the least any deposit must do
//     (the row only once the audio is stored);
//   - checked: the same, reading a mailbox's rows beside the upload as a deposit must, to
//     refuse unknown and full mailboxes and over-long messages;
//   - silent: the service's whole deposit (API, service, Azure backend) without the deposit
//     notification, which is sent to its queue after the response;
//   - deposit: the service's whole deposit.
//
// It reports each one's throughput relative to the raw upload:
//
//	go test -run '^$' -bench DepositParts -benchtime 200x ./app/internal/store/azure/
func BenchmarkDepositParts(b *testing.B) {
	r := newBenchRig(b, "49305")
	row := []byte(`{"i":{"caller":"+4930123456789","received":1795000000000,"durationMs":30000,` +
		`"size":480044,"audioRef":"audio/4930500000/1795000000000-bench-0123456789abcdef.wav",` +
		`"deposited":{"t":1795000000000000,"n":"bench"}}}`)
	// Each kind has its own table, containers and queue, as the deposits have theirs: Azurite
	// scans a whole table for every query.
	backends := map[string]*store.Backend{}
	for _, kind := range []string{"store", "checked"} {
		be, err := azure.Open(r.ctx, config(az.ConnectionString()))
		if err != nil {
			b.Fatal(err)
		}
		backends[kind] = be
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /{kind}/{mailbox}/{id}", func(w http.ResponseWriter, req *http.Request) {
		ctx, number, key := req.Context(), req.PathValue("mailbox"), "m:"+req.PathValue("id")+"~bench"
		be := backends[req.PathValue("kind")]
		wav := make([]byte, req.ContentLength)
		if _, err := io.ReadFull(req.Body, wav); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var readErr error
		var wg sync.WaitGroup
		if req.PathValue("kind") == "checked" {
			wg.Go(func() { _, readErr = be.Meta.List(ctx, number, "") })
		}
		err := be.Blobs.Put(ctx, "parts/"+number+"/"+key+".wav", wav)
		wg.Wait()
		if err == nil {
			err = readErr
		}
		if err == nil {
			_, err = be.Meta.Insert(ctx, number, key, row)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusCreated)
	})
	parts := httptest.NewServer(mux)
	b.Cleanup(parts.Close)
	post := func(kind string, i int) time.Duration {
		t0 := time.Now()
		resp, err := r.client.Post(fmt.Sprintf("%s/%s/%s/%d", parts.URL, kind, r.mailbox, i), "audio/wav", bytes.NewReader(r.wav))
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			b.Fatalf("%s: status %d", kind, resp.StatusCode)
		}
		return time.Since(t0)
	}
	silent := newRig(b, "49306", false)
	b.ResetTimer()
	took := pairedBlocks(b.N, r.upload,
		func(i int) time.Duration { r.nextMailbox(i); return post("store", i) },
		func(i int) time.Duration { r.nextMailbox(i); return post("checked", i) },
		func(i int) time.Duration { silent.nextMailbox(i); return silent.deposit() },
		func(i int) time.Duration { r.nextMailbox(i); return r.deposit() })
	for a, name := range []string{"store", "checked", "silent", "deposit"} {
		b.ReportMetric(float64(took[0])/float64(took[a+1]), name+"/raw-throughput")
	}
	b.ReportMetric(float64(took[0])/float64(b.N), "rawblob-ns/op")
}

// BenchmarkDepositCPU shows where the machine's CPU goes per operation, for 200 raw uploads and
// then 200 HTTP deposits: this process (client, API, service, SDK) and each Azurite service,
// from /proc (Linux). On a 2-core machine the deposit/raw ratio above is bound by these sums.
//
//	go test -run '^$' -bench DepositCPU -benchtime 1x ./app/internal/store/azure/
func BenchmarkDepositCPU(b *testing.B) {
	r := newBenchRig(b, "49304")
	for n := range b.N {
		for _, arm := range []string{"raw", "deposit"} {
			before := processCPU(b)
			for i := n * 200; i < (n+1)*200; i++ { // fresh mailboxes and blob names on every pass
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
