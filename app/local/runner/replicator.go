package runner

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
// the local regions: every Interval it copies each region's rows, whichever region they belong
// to (Cosmos DB replicates every write, so a row a stamp wrote through another region's endpoint
// during a failover reaches its own region too), and the region's own audio and greetings, from
// that region's store to every other region's store; a row the destination holds in the same or
// a newer version is left alone. Interval is the
// replication delay a reader in another region sees. Regions can be partitioned from each
// other; rows written meanwhile cross over once the partition heals. Progress is kept per pair
// and per row, so a slow or interrupted round is resumed, not restarted.
type Replicator struct {
	interval time.Duration
	log      *slog.Logger

	mu      sync.Mutex
	regions map[string]*store.Backend
	pairs   map[[2]string]*pairState
	cut     map[[2]string]bool
	rounds  int64
	// targets, when set, are where each (origin, destination) pair's blobs go: the
	// destination's replica container of origin, as Azure object replication writes them.
	// Pairs without a target copy rows only. Without targets blobs go to the destination's
	// own container.
	targets map[[2]string]store.Blobs
	// blobsPaused holds back the blobs of these origins while rows still cross: object
	// replication lagging behind Cosmos DB.
	blobsPaused map[string]bool
}

// SetBlobTargets makes the replicator copy the blobs of each (origin, destination) pair into
// targets[pair] only, the replica containers of the Azure design.
func (r *Replicator) SetBlobTargets(targets map[[2]string]store.Blobs) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.targets = targets
}

// PauseBlobs holds back origin's blobs (its rows still replicate) until ResumeBlobs: a
// replica that lags behind the metadata. It returns once no blob copy from origin is in flight.
func (r *Replicator) PauseBlobs(origin string) {
	r.mu.Lock()
	if r.blobsPaused == nil {
		r.blobsPaused = map[string]bool{}
	}
	r.blobsPaused[origin] = true
	var inflight []*pairState
	for k, st := range r.pairs {
		if k[0] == origin {
			inflight = append(inflight, st)
		}
	}
	r.mu.Unlock()
	for _, st := range inflight {
		st.mu.Lock()
		st.mu.Unlock()
	}
}

// ResumeBlobs lets origin's blobs replicate again.
func (r *Replicator) ResumeBlobs(origin string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.blobsPaused, origin)
}

// pairState is what one direction (from -> to) has copied so far.
type pairState struct {
	mu     sync.Mutex // one round at a time per pair
	cursor int64      // every row of the source region up to here (minus the slack) is copied
	rows   map[string]int64
	blobs  map[string]bool // names present at the destination
	primed bool
	err    error
}

// cursorSlack re-reads rows this much older than the cursor: versions are wall-clock based and
// two stamps of a region may commit slightly out of order. Rows already copied are skipped.
const cursorSlack = int64(3 * time.Second / time.Microsecond)

// importBatch rows are imported per call, so progress is recorded as it is made.
const importBatch = 50

// NewReplicator replicates between the given regions' stores.
func NewReplicator(regions map[string]*store.Backend, interval time.Duration, log *slog.Logger) *Replicator {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Replicator{interval: interval, log: log, regions: regions, pairs: map[[2]string]*pairState{},
		cut: map[[2]string]bool{}}
}

func pair(a, b string) [2]string {
	if a > b {
		a, b = b, a
	}
	return [2]string{a, b}
}

// Partition cuts replication between regions a and b (both directions). It returns once no
// copy between them is in flight, so nothing written afterwards crosses until Heal.
func (r *Replicator) Partition(a, b string) {
	r.mu.Lock()
	r.cut[pair(a, b)] = true
	var inflight []*pairState
	for _, k := range [][2]string{{a, b}, {b, a}} {
		if st := r.pairs[k]; st != nil {
			inflight = append(inflight, st)
		}
	}
	r.mu.Unlock()
	for _, st := range inflight {
		st.mu.Lock() // waits for a round that started before the cut
		st.mu.Unlock()
	}
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
// down are retried next round; the error names them.
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
			st := r.pairs[[2]string{from, to}]
			if st == nil {
				st = &pairState{rows: map[string]int64{}, blobs: map[string]bool{}}
				r.pairs[[2]string{from, to}] = st
			}
			src, dst := r.regions[from], r.regions[to]
			var dstBlobs store.Blobs = dst.Blobs
			if r.targets != nil {
				dstBlobs = r.targets[[2]string{from, to}]
			}
			if r.blobsPaused[from] {
				dstBlobs = nil
			}
			r.mu.Unlock()
			if cut {
				continue
			}
			wg.Go(func() {
				cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
				defer cancel()
				st.mu.Lock()
				defer st.mu.Unlock()
				r.mu.Lock()
				cut := r.cut[pair(from, to)]
				r.mu.Unlock()
				if cut {
					return // partitioned while this round waited
				}
				err := st.copy(cctx, src, dst, dstBlobs)
				switch {
				case err != nil && st.err == nil:
					r.log.Warn("replication stalled", "from", from, "to", to, "error", err)
				case err == nil && st.err != nil:
					r.log.Info("replication resumed", "from", from, "to", to)
				}
				st.err = err
				if err != nil {
					emu.Lock()
					errs = append(errs, fmt.Errorf("%s -> %s: %w", from, to, err))
					emu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	r.mu.Lock()
	r.rounds++
	r.mu.Unlock()
	return errors.Join(errs...)
}

// copy copies the source region's new audio and greeting blobs into dstBlobs (none when nil),
// then the new rows of its store, the way store.Replicate does, but remembering what it copied.
func (st *pairState) copy(ctx context.Context, src, dst *store.Backend, dstBlobs store.Blobs) error {
	if err := st.copyBlobs(ctx, src, dstBlobs); err != nil {
		return err
	}
	return st.copyRows(ctx, src, dst)
}

func (st *pairState) copyBlobs(ctx context.Context, src *store.Backend, dstBlobs store.Blobs) error {
	if dstBlobs == nil {
		return nil
	}
	if !st.primed {
		names, err := dstBlobs.List(ctx, "")
		if err != nil {
			return fmt.Errorf("list destination blobs: %w", err)
		}
		for _, n := range names {
			st.blobs[n] = true
		}
		st.primed = true
	}
	for _, prefix := range []string{"audio/", "greetings/"} {
		names, err := src.Blobs.List(ctx, prefix)
		if err != nil {
			return fmt.Errorf("list source blobs: %w", err)
		}
		var todo []string
		for _, n := range names {
			if !st.blobs[n] {
				todo = append(todo, n)
			}
		}
		done, err := parallel(ctx, todo, func(ctx context.Context, n string) error {
			data, err := src.Blobs.Get(ctx, n)
			if errors.Is(err, store.ErrNotFound) {
				return nil // deleted meanwhile
			}
			if err != nil {
				return fmt.Errorf("read blob %s: %w", n, err)
			}
			if err := dstBlobs.Put(ctx, n, data); err != nil {
				return fmt.Errorf("write blob %s: %w", n, err)
			}
			return nil
		})
		for _, n := range done {
			st.blobs[n] = true
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (st *pairState) copyRows(ctx context.Context, src, dst *store.Backend) error {
	rows, err := src.Meta.Export(ctx, "", max(0, st.cursor-cursorSlack))
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	var todo [][]store.Row
	var batch []store.Row
	top := st.cursor
	for _, row := range rows {
		top = max(top, row.Version)
		if st.rows[row.Partition+"\x00"+row.Key] >= row.Version {
			continue
		}
		if batch = append(batch, row); len(batch) == importBatch {
			todo, batch = append(todo, batch), nil
		}
	}
	if len(batch) > 0 {
		todo = append(todo, batch)
	}
	done, err := parallel(ctx, todo, func(ctx context.Context, b []store.Row) error {
		if _, err := dst.Meta.Import(ctx, b); err != nil {
			return fmt.Errorf("import: %w", err)
		}
		return nil
	})
	for _, b := range done {
		for _, row := range b {
			st.rows[row.Partition+"\x00"+row.Key] = max(st.rows[row.Partition+"\x00"+row.Key], row.Version)
		}
	}
	if err != nil {
		return err // the cursor stays; rows done are skipped next round
	}
	st.cursor = top
	return nil
}

// copyWorkers bounds the concurrent copies of one pair.
const copyWorkers = 8

// parallel runs fn over items with copyWorkers workers and returns the items that succeeded and
// the first error.
func parallel[T any](ctx context.Context, items []T, fn func(context.Context, T) error) ([]T, error) {
	var mu sync.Mutex
	var done []T
	var first error
	next := make(chan T)
	var wg sync.WaitGroup
	for range min(copyWorkers, len(items)) {
		wg.Go(func() {
			for it := range next {
				err := fn(ctx, it)
				mu.Lock()
				if err == nil {
					done = append(done, it)
				} else if first == nil {
					first = err
				}
				mu.Unlock()
			}
		})
	}
	for _, it := range items {
		mu.Lock()
		failed := first != nil
		mu.Unlock()
		if failed || ctx.Err() != nil {
			break
		}
		next <- it
	}
	close(next)
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		first = ctx.Err()
	}
	return done, first
}

// Rounds counts finished rounds.
func (r *Replicator) Rounds() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rounds
}
