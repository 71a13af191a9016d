package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/voicemail-platform/voicemail/app/internal/store"
)

// Replicator stands in for Cosmos DB multi-region writes and Blob object replication between
// the local regions: every Interval it copies each region's own rows (and the audio they point
// at) from that region's store to every other region's store. Interval is the replication
// delay a reader in another region sees. Regions can be partitioned from each other; rows
// written meanwhile cross over once the partition heals.
type Replicator struct {
	interval time.Duration
	log      *slog.Logger

	mu      sync.Mutex
	regions map[string]*store.Backend
	cursor  map[[2]string]int64
	cut     map[[2]string]bool
	rounds  int64
	lastErr map[[2]string]error
}

// cursorSlack re-reads rows this much older than the cursor: versions are wall-clock based and
// two stamps of a region may commit slightly out of order. Import is idempotent.
const cursorSlack = int64(10 * time.Second / time.Microsecond)

// NewReplicator replicates between the given regions' stores.
func NewReplicator(regions map[string]*store.Backend, interval time.Duration, log *slog.Logger) *Replicator {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Replicator{interval: interval, log: log, regions: regions, cursor: map[[2]string]int64{},
		cut: map[[2]string]bool{}, lastErr: map[[2]string]error{}}
}

func pair(a, b string) [2]string {
	if a > b {
		a, b = b, a
	}
	return [2]string{a, b}
}

// Partition cuts replication between regions a and b (both directions).
func (r *Replicator) Partition(a, b string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cut[pair(a, b)] = true
}

// Heal ends every partition.
func (r *Replicator) Heal() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cut = map[[2]string]bool{}
}

// Run replicates every interval until ctx ends.
func (r *Replicator) Run(ctx context.Context) {
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = r.Round(ctx)
		}
	}
}

// Round copies every region's new rows to every reachable region once. Pairs whose stores are
// down are retried next round from the same cursor; the error names them.
func (r *Replicator) Round(ctx context.Context) error {
	r.mu.Lock()
	names := make([]string, 0, len(r.regions))
	for n := range r.regions {
		names = append(names, n)
	}
	sort.Strings(names)
	r.mu.Unlock()
	var wg sync.WaitGroup
	var emu sync.Mutex
	var errs []error
	for _, from := range names {
		for _, to := range names {
			if from == to {
				continue
			}
			r.mu.Lock()
			cut := r.cut[pair(from, to)]
			since := r.cursor[[2]string{from, to}]
			src, dst := r.regions[from], r.regions[to]
			r.mu.Unlock()
			if cut {
				continue
			}
			wg.Go(func() {
				cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
				defer cancel()
				next, err := store.Replicate(cctx, src, dst, from, max(0, since-cursorSlack))
				r.mu.Lock()
				defer r.mu.Unlock()
				if err != nil {
					if r.lastErr[[2]string{from, to}] == nil {
						r.log.Warn("replication stalled", "from", from, "to", to, "error", err)
					}
					r.lastErr[[2]string{from, to}] = err
					emu.Lock()
					errs = append(errs, fmt.Errorf("%s -> %s: %w", from, to, err))
					emu.Unlock()
					return
				}
				if r.lastErr[[2]string{from, to}] != nil {
					r.log.Info("replication resumed", "from", from, "to", to)
				}
				delete(r.lastErr, [2]string{from, to})
				r.cursor[[2]string{from, to}] = max(since, next)
			})
		}
	}
	wg.Wait()
	r.mu.Lock()
	r.rounds++
	r.mu.Unlock()
	return errors.Join(errs...)
}

// Rounds counts finished rounds.
func (r *Replicator) Rounds() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rounds
}
