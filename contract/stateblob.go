package contract

import (
	"fmt"
	"regexp"
)

// StateBlob is one stamp's state blob. Its presence in the region's state container keeps the
// stamp in rotation: the stamp's health reports 503 while it is missing. Deleting it drains the
// stamp; writing it back restores the stamp.
//
// The rules every writer follows:
//   - init-state creates the blob only if it is absent (If-None-Match: *, or O_EXCL for the
//     embedded store's file), with InServiceBody, and then writes InitMarker; when the marker
//     exists init-state does nothing, because by then a missing blob is a drain.
//   - the management service and operators delete it to drain and write it to restore; the
//     content is informational, only presence counts.
type StateBlob struct {
	Container string // the region's state container (embedded store: the data directory)
	Name      string // by default the stamp id
}

// InServiceBody is what init-state and a restore write into the blob.
var InServiceBody = []byte("in-service\n")

// initMarkerPrefix names the marker that records a stamp's initialisation. State blob names
// have no '/', so a marker never collides with a state blob.
const initMarkerPrefix = "init/"

var stateBlobName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,62}$`)

// StampStateBlob is the state blob of a stamp under the default naming.
func StampStateBlob(stampID string) StateBlob {
	return StateBlob{Container: StateContainer, Name: stampID}
}

// InitMarker is the name of the blob (or file, beside the state file) that records that
// init-state ran for this stamp.
func (b StateBlob) InitMarker() string { return initMarkerPrefix + b.Name }

// InitMarkerFile is InitMarker for the embedded store, whose state lives in one directory.
func (b StateBlob) InitMarkerFile() string { return b.Name + ".initialized" }

// Validate checks the name: lowercase letters, digits and '-', 2-63 characters.
func (b StateBlob) Validate() error {
	if !stateBlobName.MatchString(b.Name) {
		return fmt.Errorf("state blob %q must be 2-63 lowercase letters, digits and '-'", b.Name)
	}
	return nil
}
