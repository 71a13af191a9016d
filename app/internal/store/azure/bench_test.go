package azure_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
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
func thirtySeconds() []byte { return voicemailtest.WAV(audio.PCM16, 30*time.Second) }

func BenchmarkHTTPDepositAzure(b *testing.B) {
	ctx := context.Background()
	cfg := config(az.ConnectionString())
	backend, err := azure.Open(ctx, cfg)
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
	defer srv.Close()
	wav := thirtySeconds()
	client := &http.Client{}
	mailbox := ""
	b.SetBytes(int64(len(wav)))
	b.ResetTimer()
	for i := range b.N {
		if i%50 == 0 { // a realistic mailbox size; new mailbox outside the timer
			b.StopTimer()
			mailbox = fmt.Sprintf("49301%05d", i)
			if _, _, err := svc.Provision(ctx, mailbox, vm.ProvisionRequest{PIN: "1234", MaxMessages: 100}); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		req, _ := http.NewRequest("POST", srv.URL+"/v1/mailboxes/"+mailbox+"/messages", bytes.NewReader(wav))
		req.Header.Set("Authorization", "Bearer bench-operator-token")
		req.Header.Set("Content-Type", "audio/wav")
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}

func BenchmarkRawBlobUpload(b *testing.B) {
	ctx := context.Background()
	cfg := config(az.ConnectionString())
	if _, err := azure.Open(ctx, cfg); err != nil { // creates the container
		b.Fatal(err)
	}
	client, err := azblob.NewClientFromConnectionString(az.ConnectionString(), nil)
	if err != nil {
		b.Fatal(err)
	}
	wav := thirtySeconds()
	b.SetBytes(int64(len(wav)))
	b.ResetTimer()
	for i := range b.N {
		if _, err := client.UploadBuffer(ctx, cfg.AudioContainer, fmt.Sprintf("raw/%d.wav", i), wav, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDepositVsRawBlobPaired alternates one HTTP deposit and one raw azblob upload of the
// same 30 s WAV per iteration, so both see the same machine load, and reports the throughput
// ratio deposit/raw (target >= 0.7):
//
//	go test -run '^$' -bench Paired -benchtime 100x ./app/internal/store/azure/
func BenchmarkDepositVsRawBlobPaired(b *testing.B) {
	ctx := context.Background()
	cfg := config(az.ConnectionString())
	backend, err := azure.Open(ctx, cfg)
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
	defer srv.Close()
	raw, err := azblob.NewClientFromConnectionString(az.ConnectionString(), nil)
	if err != nil {
		b.Fatal(err)
	}
	wav := thirtySeconds()
	client := &http.Client{}
	var depositNs, rawNs time.Duration
	deposit := func(mailbox string) {
		t0 := time.Now()
		req, _ := http.NewRequest("POST", srv.URL+"/v1/mailboxes/"+mailbox+"/messages", bytes.NewReader(wav))
		req.Header.Set("Authorization", "Bearer bench-operator-token")
		req.Header.Set("Content-Type", "audio/wav")
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			b.Fatalf("status %d", resp.StatusCode)
		}
		depositNs += time.Since(t0)
	}
	upload := func(i int) {
		t0 := time.Now()
		if _, err := raw.UploadBuffer(ctx, cfg.AudioContainer, fmt.Sprintf("raw/%d.wav", i), wav, nil); err != nil {
			b.Fatal(err)
		}
		rawNs += time.Since(t0)
	}
	mailbox := ""
	b.ResetTimer()
	for i := range b.N {
		if i%50 == 0 {
			mailbox = fmt.Sprintf("49302%05d", i)
			if _, _, err := svc.Provision(ctx, mailbox, vm.ProvisionRequest{PIN: "1234", MaxMessages: 100}); err != nil {
				b.Fatal(err)
			}
		}
		if i%2 == 0 {
			deposit(mailbox)
			upload(i)
		} else {
			upload(i)
			deposit(mailbox)
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(depositNs)/n, "deposit-ns/op")
	b.ReportMetric(float64(rawNs)/n, "rawblob-ns/op")
	b.ReportMetric(float64(rawNs)/float64(depositNs), "deposit/raw-throughput")
}
