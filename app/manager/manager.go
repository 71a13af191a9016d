// Package manager is the regional management service: it probes every stamp of its region,
// keeps a health history per stamp, and drains a stamp (deletes its state blob) after N
// consecutive failed probes and restores it (writes the blob) after M consecutive good ones.
// Operators drain and undrain stamps through it; an operator's drain is never undone by the
// automatic rules. Everything it decides is persisted (see Store), so a restart, a second
// instance or a Functions scale-out continues from the same state.
//
// A stamp whose state blob is missing reports 503 on its health path because of that one
// component. The manager therefore judges a stamp by every component except the state blob:
// otherwise a drained stamp could never prove it has recovered.
package manager

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/voicemail-platform/voicemail/contract"
)

// Stamp is one stamp the manager looks after, as the program lists it.
type Stamp = contract.ManagerStamp

// Config sets the rules. Zero values take the defaults.
type Config struct {
	Region string
	Stamps []Stamp
	// FailThreshold is N: consecutive failed probes that drain a stamp.
	FailThreshold int
	// RecoverThreshold is M: consecutive good probes that restore an automatically drained stamp.
	RecoverThreshold int
	// HistoryLen is how many observations are kept per stamp.
	HistoryLen int
	// ProbeTimeout bounds one probe; the stamp's own health checks time out at 3 s.
	ProbeTimeout time.Duration
}

func (c Config) withDefaults() Config {
	if c.FailThreshold <= 0 {
		c.FailThreshold = contract.DefaultFailThreshold
	}
	if c.RecoverThreshold <= 0 {
		c.RecoverThreshold = contract.DefaultRecoverThreshold
	}
	if c.HistoryLen <= 0 {
		c.HistoryLen = contract.DefaultHistoryLen
	}
	if c.ProbeTimeout <= 0 {
		c.ProbeTimeout = contract.DefaultProbeTimeout
	}
	return c
}

// Validate reports the first problem in c, naming the field.
func (c Config) Validate() error {
	if c.Region == "" {
		return errors.New("manager config: region is empty")
	}
	if err := contract.ValidateManagerStamps(c.Stamps); err != nil {
		return err
	}
	if c.FailThreshold < 0 || c.RecoverThreshold < 0 {
		return errors.New("manager config: thresholds must be positive")
	}
	return nil
}

// Observation is one probe's result.
type Observation struct {
	At      time.Time `json:"at"`
	Healthy bool      `json:"healthy"`
	Status  int       `json:"status,omitempty"` // HTTP status; 0 when no response
	Detail  string    `json:"detail,omitempty"`
}

// StampState is what the manager remembers about a stamp.
type StampState struct {
	History              []Observation `json:"history"`
	ConsecutiveFailures  int           `json:"consecutiveFailures"`
	ConsecutiveSuccesses int           `json:"consecutiveSuccesses"`
	// AutoDrained: the manager drained the stamp after FailThreshold failures.
	AutoDrained bool `json:"autoDrained"`
	// OperatorDrained: an operator drained it through the manager; only an operator undrains it.
	OperatorDrained bool      `json:"operatorDrained"`
	OperatorReason  string    `json:"operatorReason,omitempty"`
	OperatorAt      time.Time `json:"operatorAt,omitzero"`
	// ExternalDrained: the state blob vanished without the manager (an operator's az CLI
	// drain). The manager never writes it back; the operator's upload undrains.
	ExternalDrained bool `json:"externalDrained"`
	// LastAction says what the manager last did to the blob, for operators.
	LastAction   string    `json:"lastAction,omitempty"`
	LastActionAt time.Time `json:"lastActionAt,omitzero"`
}

// Drained reports whether the stamp should have no state blob.
func (s *StampState) drainedFor(cfgDrained bool) bool {
	return cfgDrained || s.OperatorDrained || s.AutoDrained || s.ExternalDrained
}

// State is the manager's persisted state for its region.
type State struct {
	Stamps map[string]*StampState `json:"stamps"`
}

// ErrConflict is returned by Store.Save when someone else saved since Load.
var ErrConflict = errors.New("manager state changed concurrently")

// ErrConfigDrained is returned when an operator undrains a stamp the stack config drains.
var ErrConfigDrained = errors.New("stamp is drained by the stack config (stamps[].drained); change the config to undrain it")

// ErrUnknownStamp is returned for a stamp id that is not in the manager's config.
var ErrUnknownStamp = errors.New("unknown stamp")

// Store persists State with optimistic concurrency. version "" means "does not exist yet".
type Store interface {
	Load(ctx context.Context) (State, string, error)
	Save(ctx context.Context, s State, version string) (string, error)
}

// Blobs writes and removes stamps' state blobs.
type Blobs interface {
	Exists(ctx context.Context, name string) (bool, error)
	Put(ctx context.Context, name string, body []byte) error
	Delete(ctx context.Context, name string) error // a missing blob is not an error
}

// Prober probes one stamp.
type Prober interface {
	Probe(ctx context.Context, s Stamp) Observation
}

// Manager applies the rules. It is safe for concurrent use; the Store serialises writers
// across processes.
type Manager struct {
	cfg    Config
	store  Store
	blobs  Blobs
	prober Prober
	now    func() time.Time
	log    *slog.Logger
	mu     sync.Mutex // serialises this process's read-modify-write cycles
}

// New returns a Manager. now may be nil (time.Now).
func New(cfg Config, store Store, blobs Blobs, prober Prober, now func() time.Time, log *slog.Logger) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	return &Manager{cfg: cfg.withDefaults(), store: store, blobs: blobs, prober: prober, now: now, log: log}, nil
}

// Config returns the effective configuration.
func (m *Manager) Config() Config { return m.cfg }

// update runs fn on the persisted state and saves it, retrying on concurrent saves.
func (m *Manager) update(ctx context.Context, fn func(State) error) (State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for attempt := 0; ; attempt++ {
		st, ver, err := m.store.Load(ctx)
		if err != nil {
			return State{}, fmt.Errorf("load manager state: %w", err)
		}
		if st.Stamps == nil {
			st.Stamps = map[string]*StampState{}
		}
		if err := fn(st); err != nil {
			return State{}, err
		}
		if _, err := m.store.Save(ctx, st, ver); err != nil {
			if errors.Is(err, ErrConflict) && attempt < 5 {
				continue
			}
			return State{}, fmt.Errorf("save manager state: %w", err)
		}
		return st, nil
	}
}

// TickResult says what one round did, per stamp.
type TickResult struct {
	Stamp   string      `json:"stamp"`
	Probe   Observation `json:"probe"`
	Drained bool        `json:"drained"`
	Action  string      `json:"action,omitempty"` // "drained", "restored", "bootstrapped", ""
}

// Tick probes every stamp in parallel, records the results and drains or restores stamps.
// The timer trigger calls it; it is idempotent per round.
func (m *Manager) Tick(ctx context.Context) ([]TickResult, error) {
	obs := make([]Observation, len(m.cfg.Stamps))
	var wg sync.WaitGroup
	for i, s := range m.cfg.Stamps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pctx, cancel := context.WithTimeout(ctx, m.cfg.ProbeTimeout)
			defer cancel()
			obs[i] = m.prober.Probe(pctx, s)
			obs[i].At = m.now()
		}()
	}
	wg.Wait()

	var results []TickResult
	_, err := m.update(ctx, func(st State) error {
		results = results[:0]
		for i, s := range m.cfg.Stamps {
			r, err := m.apply(ctx, st, s, obs[i])
			if err != nil {
				return err
			}
			results = append(results, r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// apply folds one observation into a stamp's state and acts on the blob.
func (m *Manager) apply(ctx context.Context, st State, s Stamp, o Observation) (TickResult, error) {
	res := TickResult{Stamp: s.ID, Probe: o}
	ss, known := st.Stamps[s.ID]
	if !known {
		ss = &StampState{}
		st.Stamps[s.ID] = ss
	}
	exists, err := m.blobs.Exists(ctx, s.StateBlob)
	if err != nil {
		return res, fmt.Errorf("stamp %s: state blob: %w", s.ID, err)
	}
	switch {
	case !known && !s.Drained && !exists:
		// A stamp the program just added starts healthy: its blob is written on first sight.
		if err := m.put(ctx, s, ss, "bootstrapped"); err != nil {
			return res, err
		}
		res.Action = "bootstrapped"
		exists = true
	case !exists && !ss.drainedFor(s.Drained):
		ss.ExternalDrained = true
		ss.LastAction, ss.LastActionAt = "external drain seen", m.now()
		m.log.InfoContext(ctx, "state blob removed outside the manager; treating as operator drain", "stamp", s.ID)
	case exists && ss.ExternalDrained:
		ss.ExternalDrained = false
		ss.LastAction, ss.LastActionAt = "external undrain seen", m.now()
	case exists && ss.AutoDrained && !ss.OperatorDrained && !s.Drained:
		// Someone wrote the blob back by hand: respect it and start counting afresh.
		ss.AutoDrained = false
		ss.ConsecutiveFailures = 0
	}

	ss.History = append(ss.History, o)
	if n := len(ss.History) - m.cfg.HistoryLen; n > 0 {
		ss.History = append([]Observation(nil), ss.History[n:]...)
	}
	if o.Healthy {
		ss.ConsecutiveSuccesses++
		ss.ConsecutiveFailures = 0
	} else {
		ss.ConsecutiveFailures++
		ss.ConsecutiveSuccesses = 0
	}

	switch {
	case s.Drained || ss.OperatorDrained:
		if exists {
			if err := m.delete(ctx, s, ss, "drained (config or operator)"); err != nil {
				return res, err
			}
			res.Action = "drained"
		}
	case !ss.AutoDrained && !ss.ExternalDrained && ss.ConsecutiveFailures >= m.cfg.FailThreshold:
		if err := m.delete(ctx, s, ss, fmt.Sprintf("drained after %d failed probes", ss.ConsecutiveFailures)); err != nil {
			return res, err
		}
		ss.AutoDrained = true
		res.Action = "drained"
	case ss.AutoDrained && ss.ConsecutiveSuccesses >= m.cfg.RecoverThreshold:
		if err := m.put(ctx, s, ss, fmt.Sprintf("restored after %d good probes", ss.ConsecutiveSuccesses)); err != nil {
			return res, err
		}
		ss.AutoDrained = false
		res.Action = "restored"
	}
	res.Drained = ss.drainedFor(s.Drained)
	return res, nil
}

func (m *Manager) put(ctx context.Context, s Stamp, ss *StampState, why string) error {
	body := fmt.Sprintf("{\"stamp\":%q,\"region\":%q,\"by\":\"manager\",\"reason\":%q,\"at\":%q}\n",
		s.ID, m.cfg.Region, why, m.now().UTC().Format(time.RFC3339))
	if err := m.blobs.Put(ctx, s.StateBlob, []byte(body)); err != nil {
		return fmt.Errorf("stamp %s: write state blob: %w", s.ID, err)
	}
	ss.LastAction, ss.LastActionAt = why, m.now()
	m.log.InfoContext(ctx, "state blob written", "stamp", s.ID, "reason", why)
	return nil
}

func (m *Manager) delete(ctx context.Context, s Stamp, ss *StampState, why string) error {
	if err := m.blobs.Delete(ctx, s.StateBlob); err != nil {
		return fmt.Errorf("stamp %s: delete state blob: %w", s.ID, err)
	}
	ss.LastAction, ss.LastActionAt = why, m.now()
	m.log.WarnContext(ctx, "state blob deleted", "stamp", s.ID, "reason", why)
	return nil
}

func (m *Manager) stamp(id string) (Stamp, bool) {
	for _, s := range m.cfg.Stamps {
		if s.ID == id {
			return s, true
		}
	}
	return Stamp{}, false
}

// Drain is the operator drain: the blob goes now and stays gone until Undrain.
func (m *Manager) Drain(ctx context.Context, id, reason string) (StampStatus, error) {
	s, ok := m.stamp(id)
	if !ok {
		return StampStatus{}, fmt.Errorf("%w: %q", ErrUnknownStamp, id)
	}
	st, err := m.update(ctx, func(st State) error {
		ss := st.Stamps[id]
		if ss == nil {
			ss = &StampState{}
			st.Stamps[id] = ss
		}
		ss.OperatorDrained, ss.OperatorReason, ss.OperatorAt = true, reason, m.now()
		return m.delete(ctx, s, ss, "operator drain: "+reason)
	})
	if err != nil {
		return StampStatus{}, err
	}
	return m.status(s, st.Stamps[id]), nil
}

// Undrain lifts an operator (or az CLI) drain and writes the blob. A stamp that is still
// failing is drained again by the automatic rules after FailThreshold probes; a stamp the
// stack config drains stays drained.
func (m *Manager) Undrain(ctx context.Context, id string) (StampStatus, error) {
	s, ok := m.stamp(id)
	if !ok {
		return StampStatus{}, fmt.Errorf("%w: %q", ErrUnknownStamp, id)
	}
	if s.Drained {
		return StampStatus{}, fmt.Errorf("stamp %s: %w", id, ErrConfigDrained)
	}
	st, err := m.update(ctx, func(st State) error {
		ss := st.Stamps[id]
		if ss == nil {
			ss = &StampState{}
			st.Stamps[id] = ss
		}
		ss.OperatorDrained, ss.OperatorReason, ss.OperatorAt = false, "", m.now()
		ss.ExternalDrained, ss.AutoDrained = false, false
		ss.ConsecutiveFailures = 0
		return m.put(ctx, s, ss, "operator undrain")
	})
	if err != nil {
		return StampStatus{}, err
	}
	return m.status(s, st.Stamps[id]), nil
}

// StampStatus is the operator's view of one stamp.
type StampStatus struct {
	Stamp Stamp `json:"stamp"`
	StampState
	Drained bool `json:"drained"`
}

func (m *Manager) status(s Stamp, ss *StampState) StampStatus {
	if ss == nil {
		ss = &StampState{}
	}
	return StampStatus{Stamp: s, StampState: *ss, Drained: ss.drainedFor(s.Drained)}
}

// Status returns every configured stamp's state, sorted by id.
func (m *Manager) Status(ctx context.Context) ([]StampStatus, error) {
	st, _, err := m.store.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("load manager state: %w", err)
	}
	out := make([]StampStatus, 0, len(m.cfg.Stamps))
	for _, s := range m.cfg.Stamps {
		out = append(out, m.status(s, st.Stamps[s.ID]))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Stamp.ID < out[j].Stamp.ID })
	return out, nil
}
