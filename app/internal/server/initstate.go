package server

import (
	"context"
	"fmt"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/voicemail-platform/voicemail/app/internal/store"
	"github.com/voicemail-platform/voicemail/app/internal/store/azure"
	"github.com/voicemail-platform/voicemail/app/internal/store/embedded"
	"github.com/voicemail-platform/voicemail/contract"
)

// InitState creates the stamp's state marker if it does not exist yet, on whichever backend
// cfg selects, and never rewrites one that exists (`voicemail init-state`, run once per stamp
// by the workload's state-init Job so a new stamp starts healthy). Once a stamp has been
// initialised, later runs change nothing: a missing marker then means the stamp is drained.
func InitState(ctx context.Context, cfg contract.Stamp) (store.InitOutcome, error) {
	if !cfg.Azure() {
		return embedded.InitState(cfg.DataDir, cfg.StateBlob)
	}
	ac := azure.Config{
		ConnectionString: cfg.ConnectionString, BlobEndpoint: cfg.BlobEndpoint,
		StateContainer: cfg.StateContainer, StateBlob: cfg.StateBlob,
	}
	if cfg.ConnectionString == "" {
		cred, err := azidentity.NewDefaultAzureCredential(nil) // workload identity in AKS
		if err != nil {
			return "", fmt.Errorf("azure credential: %w", err)
		}
		ac.Credential = cred
	}
	ictx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return azure.InitState(ictx, ac)
}
