package voicemail_test

import (
	"testing"

	"github.com/voicemail-platform/voicemail/app/internal/voicemail/voicemailtest"
)

// Rows written by a newer release keep their new keys through this release's rewrites, and
// rows this release writes are read by older releases (see voicemailtest.RowsStayCompatible;
// the Azure backend runs the same check on Azurite).
func TestRowsStayCompatibleAcrossReleases(t *testing.T) {
	voicemailtest.RowsStayCompatible(t, voicemailtest.New(t))
}
