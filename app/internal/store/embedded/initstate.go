package embedded

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/voicemail-platform/voicemail/app/internal/store"
	"github.com/voicemail-platform/voicemail/contract"
)

// InitState is the init-state mode for the embedded store, following contract.StateBlob's
// rules with the data directory as the container: it creates the state file in dir only if it
// does not exist, then records the initialisation in the marker file beside it so that a later
// run leaves a removed (drained) state file removed. It does not open the databases, so it
// works beside a running process.
func InitState(dir, stateFile string) (store.InitOutcome, error) {
	if stateFile == "" {
		stateFile = "stamp-state"
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("embedded store: %w", err)
	}
	marker := filepath.Join(dir, contract.StateBlob{Container: dir, Name: stateFile}.InitMarkerFile())
	if _, err := os.Stat(marker); err == nil {
		return store.InitDone, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("init marker: %w", err)
	}
	out := store.InitPresent
	f, err := os.OpenFile(filepath.Join(dir, stateFile), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	switch {
	case err == nil:
		_, werr := f.Write(contract.InServiceBody)
		if err := errors.Join(werr, f.Close()); err != nil {
			return "", fmt.Errorf("write state file: %w", err)
		}
		out = store.InitCreated
	case !errors.Is(err, fs.ErrExist):
		return "", fmt.Errorf("create state file: %w", err)
	}
	if err := os.WriteFile(marker, []byte(string(out)+"\n"), 0o640); err != nil {
		return "", fmt.Errorf("write init marker: %w", err)
	}
	return out, nil
}
