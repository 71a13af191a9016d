package azure_test

import (
	"testing"

	vm "github.com/voicemail-platform/voicemail/app/internal/voicemail"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail/voicemailtest"
)

// The service's rows stay compatible across releases on the Table backend too: a newer
// release's keys survive this release's rewrites, and older releases read what it writes.
func TestRowsStayCompatibleAcrossReleases(t *testing.T) {
	svc, _ := voicemailtest.NewWithOptions(t, vm.Options{Backend: open(t), Region: "west"})
	voicemailtest.RowsStayCompatible(t, svc)
}
