package server

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/voicemail-platform/voicemail/contract"
)

// Deposit notifications wait for IMAP visibility only where IMAP is served.
func TestNoticeDelayFollowsIMAP(t *testing.T) {
	cfg := contract.DefaultStamp()
	cfg.IMAP.VisibilityDelay = 7 * time.Second
	assert.Zero(t, noticeDelay(cfg), "no IMAP listener: nothing to wait for")
	cfg.IMAPAddr = ":143"
	assert.Equal(t, 7*time.Second, noticeDelay(cfg))
	cfg.IMAPAddr, cfg.IMAP.TLSAddr = "", ":993"
	assert.Equal(t, 7*time.Second, noticeDelay(cfg))
}
