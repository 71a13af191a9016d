package config

import (
	"time"

	"github.com/voicemail-platform/voicemail/contract"
)

// IMAP configures the stamps' IMAP servers.
type IMAP struct {
	// VisibilityDelay is contract.EnvIMAPVisibilityDelay for every stamp, a Go duration
	// ("5s", "1m30s"): INBOX shows a message once its deposit time is this old, so a message
	// deposited in another region is present before any later one is shown and UIDs only
	// grow. It must exceed cross-region replication lag plus clock skew; 0s is right for a
	// single region only.
	VisibilityDelay string `json:"visibilityDelay"`
}

// Delay is the validated visibility delay (the contract's default when the value does not
// parse, which validation reports).
func (i IMAP) Delay() time.Duration {
	d, err := time.ParseDuration(i.VisibilityDelay)
	if err != nil {
		return contract.DefaultIMAP().VisibilityDelay
	}
	return d
}

func (c Config) validateIMAP() []error {
	var e errs
	const key = "imap.visibilityDelay"
	d, err := time.ParseDuration(c.IMAP.VisibilityDelay)
	switch {
	case err != nil:
		e.add(key, "%q is not a duration like 5s or 1m30s", c.IMAP.VisibilityDelay)
	case d < 0 || d > contract.MaxIMAPVisibilityDelay:
		e.add(key, "%s is outside 0s..%s (%s)", d, contract.MaxIMAPVisibilityDelay, contract.EnvIMAPVisibilityDelay.Name)
	case d == 0 && len(c.Regions) > 1:
		// Cosmos DB replicates a write to the other regions asynchronously (a satellite
		// region's write is committed locally, then sent on:
		// https://learn.microsoft.com/azure/cosmos-db/multi-region-writes), so with several
		// regions a message can reach a stamp after a later one was shown; only a delay above
		// the lag keeps IMAP UIDs ascending.
		e.add(key, "0s with %d regions: a message deposited in another region would reach INBOX beneath UIDs already shown; set it above cross-region replication lag plus clock skew (default %s)", len(c.Regions), contract.DefaultIMAP().VisibilityDelay)
	}
	return e
}
